"""Documents into desired objects: validation, names and namespaces, cluster scope, Flux commonMetadata and SOPS."""

from __future__ import annotations

from collections.abc import Callable

from sandbox.model import SYSTEM_NAMESPACE, DesiredObject, Manifest, ObjectKey, Problem
from sandbox.source import argocd
from sandbox.source.appspec import AppSpec
from sandbox.source.render.parse import Doc, place_of

IsNamespaced = Callable[[str, str], bool | None]

# Built-in kinds without a namespace, by (API group, kind): what a render assumes when no
# cluster is there to ask. Anything else is taken as namespaced.
CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("networking.k8s.io", "IngressClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    }
)


def set_common_metadata(objects: list[DesiredObject], common: tuple[tuple[str, str, str], ...]) -> None:
    """Flux's commonMetadata: its labels and annotations on every object, over the object's own
    (kustomize-controller and helm-controller set them after the build, selectors untouched)."""
    for obj in objects if common else ():
        meta = obj.manifest.setdefault("metadata", {})
        for field_name, key, value in common:
            if not isinstance(meta.get(field_name), dict):
                meta[field_name] = {}
            meta[field_name][key] = value


def encrypted(objects: list[DesiredObject], app: AppSpec) -> list[Problem]:
    """SOPS-encrypted objects (a `sops` stanza), which this app cannot apply: with
    spec.decryption Flux would decrypt them, which the sandbox does not do yet; without it Flux
    would send them as they are and the API server refuse them. An app with decryption and
    nothing encrypted is as Flux has it: there is nothing to decrypt. Said once per file (a
    component's Secret lands in every namespace that includes it)."""
    if app.kind != "Kustomization":
        return []
    per_file: dict[str, list[DesiredObject]] = {}
    for obj in objects:
        if isinstance(obj.manifest.get("sops"), dict):
            per_file.setdefault(obj.source, []).append(obj)
    why = ("decrypting it (spec.decryption) is not supported by the sandbox yet, so nothing of this app is applied "
           "(in a clone for the sandbox, `sops -d -i FILE` leaves it decrypted; never push that)"
           if app.options.decryption else "Flux applies it only with spec.decryption, which this app lacks")  # fmt: skip
    problems = []
    for file, found in per_file.items():
        names = sorted({f"{o.key.kind} {o.key.name}" for o in found})
        spaces = sorted({o.key.namespace for o in found if o.key.namespace})
        where = f" in {len(spaces)} namespaces" if len(spaces) > 1 else ""
        if len(found) == 1:
            problems.append(Problem(f"is SOPS-encrypted: {why}", file=file, object=str(found[0].key)))
        else:
            problems.append(Problem(f"{', '.join(names)}{where}: SOPS-encrypted: {why}", file=file))
    return problems


# -- validation -----------------------------------------------------------------------------------


def desired_objects(
    docs: list[Doc], app: AppSpec, is_namespaced: IsNamespaced | None, problems: list[Problem]
) -> list[DesiredObject]:
    crd_scopes = _crd_scopes(docs)
    objects: list[DesiredObject] = []
    first_seen: dict[ObjectKey, Doc] = {}
    for doc in docs:
        manifest = _checked(doc, problems)
        if manifest is None:
            continue
        api_version = manifest["apiVersion"]
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        meta = manifest["metadata"]
        if argocd.is_argo_object(manifest):
            pass  # an app definition, never applied: its namespace is as written (its identity)
        elif _namespaced(group, manifest["kind"], is_namespaced, crd_scopes):
            if not meta.get("namespace"):
                meta["namespace"] = app.namespace
        elif "namespace" in meta:
            # The API server ignores it; keeping it would make the key differ from the live object.
            del meta["namespace"]
        key = ObjectKey.of(manifest)
        if meta.get("namespace") == SYSTEM_NAMESPACE or (key.group, key.kind, key.name) == (
            "",
            "Namespace",
            SYSTEM_NAMESPACE,
        ):
            problems.append(
                Problem(
                    f"{SYSTEM_NAMESPACE} is the sandbox's own namespace (it keeps every app's inventory): "
                    "no app may ship objects into it; refused",
                    file=doc.file,
                    line=doc.line,
                    object=str(key),
                )  # fmt: skip
            )
            continue
        if key in first_seen and app.kind == "Application":
            # Argo CD keeps the last and warns (RepeatedResourceWarning): so does the sandbox.
            first = first_seen[key]
            doc.notices += (Problem(
                f"{key} appears twice in app {app.name}: in {place_of(first)} and in {place_of(doc)}; the last is "
                "applied, as Argo CD keeps the last (RepeatedResourceWarning)", file=doc.file, line=doc.line,
                object=str(key),
            ),)  # fmt: skip
            objects = [o for o in objects if o.key != key]
        elif key in first_seen:
            first = first_seen[key]
            problems.append(
                Problem(
                    f"defined twice in app {app.name}: in {place_of(first)} and in {place_of(doc)}",
                    file=doc.file,
                    line=doc.line,
                    object=str(key),
                )
            )
            continue
        first_seen[key] = doc
        objects.append(DesiredObject(key, manifest, doc.file, app.name))
    return objects


def _checked(doc: Doc, problems: list[Problem]) -> Manifest | None:
    """The document as a manifest safe to modify, or None with a Problem saying what is missing."""
    data = doc.data
    if data is None:
        return None  # a file skipped: its notice says why (Doc.skipped)
    if not isinstance(data, dict):
        what = {str: "string", int: "number", float: "number", bool: "boolean"}.get(type(data), "list")
        problems.append(
            Problem(f"document is a {what}, not a Kubernetes object", file=doc.file, line=doc.line)
        )
        return None
    missing = [
        field for field in ("apiVersion", "kind") if not isinstance(data.get(field), str) or not data[field]
    ]
    meta = data.get("metadata")
    if not isinstance(meta, dict):
        missing.append("metadata" if meta is None else "metadata (as a mapping)")
    elif (not isinstance(meta.get("name"), str) or not meta["name"]) and not (
        isinstance(meta.get("generateName"), str) and meta["generateName"] and "name" not in meta
    ):
        missing.append("metadata.name")
    elif meta.get("namespace") is not None and not isinstance(meta["namespace"], str):
        missing.append("metadata.namespace (as a string)")
    if missing or not isinstance(meta, dict):
        name = meta.get("name") if isinstance(meta, dict) else None
        label = " ".join(str(p) for p in (data.get("kind"), name) if p)
        problems.append(Problem(f"missing {', '.join(missing)}", file=doc.file, line=doc.line, object=label))
        return None
    # Copies: YAML aliases may share one mapping between documents, and we set namespaces.
    return {**data, "metadata": dict(meta)}


def _crd_scopes(docs: list[Doc]) -> dict[tuple[str, str], bool]:
    """(group, kind) -> namespaced, for the CustomResourceDefinitions the app itself ships."""
    scopes = {}
    for doc in docs:
        data = doc.data
        if not isinstance(data, dict) or data.get("kind") != "CustomResourceDefinition":
            continue
        spec = data.get("spec")
        if isinstance(spec, dict) and isinstance(spec.get("names"), dict):
            scopes[(str(spec.get("group", "")), str(spec["names"].get("kind", "")))] = (
                spec.get("scope") != "Cluster"
            )
    return scopes


def _namespaced(
    group: str, kind: str, is_namespaced: IsNamespaced | None, crd_scopes: dict[tuple[str, str], bool]
) -> bool:
    answer = is_namespaced(group, kind) if is_namespaced is not None else None
    if answer is not None:
        return answer
    if (group, kind) in crd_scopes:
        return crd_scopes[(group, kind)]
    if (group, kind) in CLUSTER_SCOPED:
        return False
    # A kind nobody here knows (its CRD comes from a chart not installed yet): by the convention
    # every ecosystem keeps (ClusterIssuer, ClusterPolicy, ClusterSecretStore), Cluster* is
    # cluster-scoped, so it is not shown in a namespace it will never have.
    return not (kind.startswith("Cluster") and kind[7:8].isupper())
