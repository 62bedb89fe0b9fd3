"""Argo CD's own settings that a repo holds: the ``argocd-cm`` ConfigMap's ``kustomize.buildOptions``.

A repo that installs Argo CD configures it there, and Argo CD builds every Kustomize
Application with those flags: ``--load-restrictor LoadRestrictionsNone`` lets a kustomization
list a file outside its folder (``resources: [../../base-appset.yaml]``), which the default
refuses. The sandbox plays that Argo CD, so it builds as the repo's Argo CD would. Flags it
cannot honour are said, never dropped.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import yaml

from sandbox.manifest import kubeyaml
from sandbox.manifest.shape import mapping
from sandbox.manifest.suffixes import MANIFEST_SUFFIXES
from sandbox.model import Problem
from sandbox.source.envrepo import EnvRepo

CONFIG_MAP = "argocd-cm"
BUILD_OPTIONS = "kustomize.buildOptions"


@dataclass(frozen=True)
class BuildOptions:
    load_restrictor_none: bool = False
    notices: tuple[Problem, ...] = ()


def build_options(repo: EnvRepo, sha: str) -> BuildOptions:
    """The ``kustomize.buildOptions`` of the repo's ``argocd-cm``, as far as the sandbox
    honours them. Several ConfigMaps that disagree (one per cluster) set none, and say so."""
    return repo.memo.once(("argocd-cm", sha), lambda: _read(repo, sha))


def _read(repo: EnvRepo, sha: str) -> BuildOptions:
    found: dict[str, str] = {}  # file -> the options it sets
    for file in repo.files_containing(sha, BUILD_OPTIONS):
        if not file.lower().endswith(MANIFEST_SUFFIXES):
            continue
        try:
            docs = list(kubeyaml.load_all(repo.read_file(sha, file) or b""))
        except (yaml.YAMLError, RecursionError, ValueError):
            continue  # the app that applies the file says what is wrong with it
        for doc in docs:
            meta = mapping(mapping(doc).get("metadata"))
            value = mapping(mapping(doc).get("data")).get(BUILD_OPTIONS)
            if (
                mapping(doc).get("kind") == "ConfigMap"
                and meta.get("name") == CONFIG_MAP
                and isinstance(value, str)
            ):
                found[file] = value
    if not found:
        return BuildOptions()
    if len(set(found.values())) > 1:
        listed = "; ".join(f"{file}: {value!r}" for file, value in found.items())
        return BuildOptions(notices=(Problem(
            f"the {CONFIG_MAP} ConfigMaps of this repo set {BUILD_OPTIONS} differently ({listed}): Kustomize "
            "Applications are built with Argo CD's defaults",
        ),))  # fmt: skip
    file, value = next(iter(found.items()))
    return _parsed(value, file)


def _parsed(value: str, file: str) -> BuildOptions:
    words = shlex.split(value)
    restrictor, unhonoured, i = False, [], 0
    while i < len(words):
        word = words[i]
        if word == "--load-restrictor" and i + 1 < len(words):
            restrictor, i = words[i + 1] == "LoadRestrictionsNone", i + 2
            continue
        if word.startswith("--load-restrictor="):
            restrictor = word.split("=", 1)[1] == "LoadRestrictionsNone"
        elif word.startswith("--enable-helm"):
            pass  # helmCharts are said of each kustomization that has them (see render/kustomize)
        else:
            unhonoured.append(word)
        i += 1
    notices = [Problem(f"{CONFIG_MAP} sets {BUILD_OPTIONS} {value!r}: Kustomize Applications are built with "
                       "--load-restrictor LoadRestrictionsNone, as this repo's Argo CD builds them", file=file)
               ] if restrictor else []  # fmt: skip
    if unhonoured:
        notices.append(Problem(f"{CONFIG_MAP} {BUILD_OPTIONS}: {' '.join(unhonoured)} not honoured by the sandbox",
                               file=file))  # fmt: skip
    return BuildOptions(restrictor, tuple(notices))
