"""Flux's post-build substitution, form by form, as kustomize-controller's envsubst reads it."""

from __future__ import annotations

import pytest

from sandbox.source.envsubst import substitute

VARIABLES = {"APP": "pocket-id", "EMPTY": "", "NAME": "web", "PATH_": "a/b/c.tar.gz"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${APP}", "pocket-id"),
        ("${UNSET}", ""),
        ("$APP stays", "$APP stays"),  # only the braced form is Flux's
        ("$${APP}", "${APP}"),
        ("${VOLSYNC_CLAIM:=${APP}}", "pocket-id"),
        ("${X:=${APP}-data}", "pocket-id-data"),
        ("${X:-a-${NAME}-${APP}}", "a-web-pocket-id"),
        ("${EMPTY:=fallback}", "fallback"),
        ("${EMPTY=fallback}", ""),  # set, though empty: only := and :- replace it
        ("${UNSET=fallback}", "fallback"),
        ("${APP:=ignored}", "pocket-id"),
        ("${X:=${Y:=${NAME}}}", "web"),
        ("${APP^^}", "POCKET-ID"),
        ("${APP^}", "Pocket-id"),
        ("${NAME,,}", "web"),
        ("${#APP}", "9"),
        ("${APP:2}", "cket-id"),
        ("${APP:2:3}", "cke"),
        ("${APP/-/_}", "pocket_id"),
        ("${PATH_%.*}", "a/b/c.tar"),
        ("${PATH_%%.*}", "a/b/c"),
        ("${PATH_#*/}", "b/c.tar.gz"),
        ("${PATH_##*/}", "c.tar.gz"),
        ("${APP/#pocket/socket}", "socket-id"),
        ("${APP/%id/ID}", "pocket-ID"),
        ("name: ${APP}-${NAME} and ${UNSET:-x}", "name: pocket-id-web and x"),
        ("${not a variable}", "${not a variable}"),
        ("${APP", "${APP"),
    ],
)
def test_each_form_reads_as_flux_reads_it(text: str, expected: str) -> None:
    assert substitute(text, VARIABLES) == expected
