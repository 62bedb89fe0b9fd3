"""YAML read and written as Kubernetes reads it.

kubectl and the API server turn YAML into JSON with sigs.k8s.io/yaml, which decodes with its
go-yaml v2 fork and then converts the keys to strings. Its rules are neither YAML 1.1 (PyYAML's
default) nor 1.2: ``yes``/``on``/``y`` are booleans, ``0755`` and ``0o755`` are octal, ``1_000``
is 1000, but ``=`` and ``1:20`` are strings and a timestamp stays the text it was written as.
A key written before ``<<`` is overwritten by the merge, a key given twice keeps the last value,
and an unknown tag (``!!set``, ``!Ref``) is read as if it were not there. This loader follows
those rules, node for node (``resolve`` in go-yaml's ``resolve.go``, ``convertToJSONableObject``
in sigs.k8s.io/yaml), so what the sandbox applies is what ``kubectl apply`` of the same file
would send. ``tests/test_kubeyaml.py`` checks it against kubectl's own reading.

Writing goes the other way: the text must read back as the same value under go-yaml v2
(kubectl, Helm), v3 (Kustomize) and PyYAML, so a string any of them would take for something
else is quoted; text outside ASCII is written as itself (an escaped astral character, as JSON
escapes it, is an invalid escape to go-yaml).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, MERGE = (_TAG + t for t in ("str", "int", "float", "bool", "null", "merge"))
_BINARY, _TIMESTAMP = _TAG + "binary", _TAG + "timestamp"
_RESOLVABLE = {"", STR, BOOL, INT, FLOAT, NULL, _TIMESTAMP}

_WORDS: dict[str, tuple[str, Any]] = {
    **{w: (BOOL, True) for w in ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")},
    **{
        w: (BOOL, False) for w in ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")
    },
    **{w: (NULL, None) for w in ("", "~", "null", "Null", "NULL")},
    **{w: (FLOAT, math.nan) for w in (".nan", ".NaN", ".NAN")},
    **{w: (FLOAT, math.inf) for w in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{w: (FLOAT, -math.inf) for w in ("-.inf", "-.Inf", "-.INF")},
    "<<": (MERGE, "<<"),
}
_YAML_STYLE_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_TIMESTAMP_START = re.compile(r"^[0-9]{4}-")
_TIMESTAMP_FORMATS = (
    # go-yaml's allowedTimestampFormats, as regular expressions of what time.Parse accepts.
    re.compile(r"^\d{4}-\d{1,2}-\d{1,2}[Tt]\d{1,2}:\d{1,2}:\d{1,2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"),
    re.compile(r"^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{1,2}:\d{1,2}(\.\d+)?$"),
    re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$"),
)
_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = 2**64 - 1
_DIGITS = {"x": "0123456789abcdefABCDEF", "o": "01234567", "b": "01", "": "0123456789"}


def go_parse_int(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 0, 64)`` then ``ParseUint``: None where both refuse."""
    sign, body = (text[0], text[1:]) if text[:1] in ("+", "-") else ("", text)
    base, digits = "", body
    if body[:2].lower() in ("0x", "0o", "0b"):
        base, digits = body[1].lower(), body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, digits = "o", body[1:]
    if not digits or any(c not in _DIGITS[base] for c in digits):
        return None
    value = int(digits, {"x": 16, "o": 8, "b": 2, "": 10}[base])
    value = -value if sign == "-" else value
    if _INT64[0] <= value <= _INT64[1] or (not sign and value <= _UINT64):
        return value
    return None


def go_parse_float(text: str) -> float | None:
    """Go's ``strconv.ParseFloat`` of a decimal number: None for what it refuses (out of range)."""
    if "_" in text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isinf(value) or math.isnan(value) else value


def resolve_plain(text: str) -> tuple[str, Any]:
    """The tag and value go-yaml v2 gives an untagged plain scalar (``resolve`` in resolve.go)."""
    if text in _WORDS:
        return _WORDS[text]
    first = text[:1]
    if first == ".":
        value = go_parse_float(text)
        return (FLOAT, value) if value is not None else (STR, text)
    if not (first.isdigit() and first.isascii()) and first not in ("+", "-"):
        return STR, text
    if _TIMESTAMP_START.match(text) and any(f.match(text) for f in _TIMESTAMP_FORMATS):
        return STR, text  # a timestamp, which go-yaml hands to an interface{} as its text
    plain = text.replace("_", "")
    number = go_parse_int(plain) if plain else None
    if number is not None:
        return INT, number
    if _YAML_STYLE_FLOAT.match(plain):
        value = go_parse_float(plain)
        if value is not None:
            return FLOAT, value
    if plain.startswith(("0b", "-0b")):
        number = go_parse_int(plain)
        if number is not None:
            return INT, number
    return STR, text


def number(value: float | int) -> int | float:
    """A number as the API server holds it: an integer within int64 (beyond it, a float, as
    apimachinery decodes JSON), and a whole float written as Go's encoding/json writes it,
    without a fraction (kept a float past 2**53, where an int would claim digits it lacks)."""
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else float(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _key(value: Any, node: Node) -> str:
    """A mapping key as sigs.k8s.io/yaml makes it a JSON key."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return {math.inf: ".inf", -math.inf: "-.inf"}.get(value, ".nan")
        return _format_g32(value)
    raise yaml.constructor.ConstructorError(
        None, None, f"a mapping key of type {type(value).__name__} cannot be a JSON key", node.start_mark
    )


def _format_g32(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'g', -1, 32)``: the shortest text that reads back as the
    same float32, with Go's exponent form."""
    single = struct.unpack("f", struct.pack("f", value))[0]
    for digits in range(1, 10):
        text = f"{single:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            break
    mantissa, _, exponent = text.partition("e")
    if not exponent:
        return mantissa
    return f"{mantissa}e{exponent[0]}{exponent[1:].lstrip('0').rjust(2, '0')}"


MAX_NESTING = 256  # kubectl reads 10,000 levels; the engine's own walks are recursive


class _KubeRules:
    """go-yaml v2's scalars, merges and tags, and JSON's keys, over PyYAML's parser.

    A document is built from its node graph without recursion, so nesting is bounded by
    ``MAX_NESTING`` (checked by the caller's guard), not by Python's stack."""

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode and implicit[0]:
            return resolve_plain(value)[0]
        return str(super().resolve(kind, value, implicit))  # type: ignore[misc]

    def construct_document(self, node: Node) -> Any:
        return build(node)


def build(root: Node, scalar: Callable[[ScalarNode], Any] | None = None) -> Any:
    """The value of a composed node graph as sigs.k8s.io/yaml makes it, built bottom-up
    (``scalar`` reads a scalar node; by default as go-yaml does)."""
    scalar = scalar or globals()["scalar"]
    built: dict[int, Any] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_built = stack.pop()
        if id(node) in built:
            continue
        if isinstance(node, ScalarNode):
            built[id(node)] = scalar(node)
            continue
        if not children_built:
            if id(node) in open_nodes:
                raise yaml.constructor.ConstructorError(
                    None, None, "a YAML alias refers to the node that contains it", node.start_mark
                )
            open_nodes.add(id(node))
            stack.append((node, True))
            children = (
                node.value if isinstance(node, SequenceNode) else [p for pair in node.value for p in pair]
            )
            stack += [(child, False) for child in reversed(children) if id(child) not in built]
            continue
        open_nodes.discard(id(node))
        if isinstance(node, SequenceNode):
            built[id(node)] = [_json_value(built[id(child)], child) for child in node.value]
        else:
            built[id(node)] = _mapping(node, built)  # type: ignore[arg-type]
    return _json_value(built[id(root)], root)


def _json_value(value: Any, node: Node) -> Any:
    """``value``, unless JSON cannot carry it (NaN, infinities): then refused, as kubectl does."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.value} is not a number JSON can carry", node.start_mark
        )
    return value


def scalar(node: ScalarNode) -> Any:
    """A scalar node's value as go-yaml v2 reads it (an unknown tag is ignored)."""
    tag = node.tag
    if tag == _BINARY:
        try:
            raw = base64.b64decode("".join(node.value.split()), validate=True)
        except (binascii.Error, ValueError):
            raise yaml.constructor.ConstructorError(
                None, None, "!!binary value contains invalid base64 data", node.start_mark
            ) from None
        return raw.decode("utf-8", errors="replace")
    if tag not in _RESOLVABLE or tag in (STR, _TIMESTAMP):
        return node.value  # any other tag, as go-yaml reads it: the text itself
    found, value = resolve_plain(node.value)
    if found == tag:
        return number(value) if found in (INT, FLOAT) else value
    if tag == FLOAT and found == INT:
        return number(float(value))
    raise yaml.constructor.ConstructorError(
        None, None, f"cannot decode {found.replace(_TAG, '!!')} `{node.value}` as a {tag.replace(_TAG, '!!')}",
        node.start_mark,
    )  # fmt: skip


def _mapping(node: MappingNode, built: dict[int, Any]) -> dict[str, Any]:
    """In written order, as go-yaml reads it: a merge overwrites the keys before it, a later
    key wins, and in a list of merged maps the earlier ones win."""
    data: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.tag == MERGE:
            parts = list(reversed(value_node.value)) if isinstance(value_node, SequenceNode) else [value_node]
            for part in parts:
                if not isinstance(part, MappingNode):
                    raise yaml.constructor.ConstructorError(
                        None, None, "map merge requires map or sequence of maps as the value", part.start_mark
                    )
                data.update(built[id(part)])
            continue
        if not isinstance(key_node, ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping or sequence cannot be a mapping key", key_node.start_mark
            )
        data[_key(built[id(key_node)], key_node)] = _json_value(built[id(value_node)], value_node)
    return data


class KubeLoader(_KubeRules, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The loader to read manifests with (libyaml's parser when PyYAML has it)."""


class _NonSpecificTagLoader(_KubeRules, yaml.SafeLoader):
    """PyYAML's own parser, which shows the non-specific tag ``!`` that libyaml hides: go-yaml
    reads ``! 12`` as the string "12". Slower, so used only where a ``!`` could be one."""

    def compose_scalar_node(self, anchor: Any) -> ScalarNode:
        if self.peek_event().tag != "!":
            return super().compose_scalar_node(anchor)
        event = self.get_event()
        node = ScalarNode(STR, event.value, event.start_mark, event.end_mark, style=event.style)
        if anchor is not None:
            self.anchors[anchor] = node
        return node


_MAYBE_NON_SPECIFIC = re.compile(r"(?:^|[\s\[{,])!(?:\s|$)", re.MULTILINE)


def loader(text: str | bytes) -> KubeLoader:
    """A loader over ``text`` (dispose of it after), as ``yaml.load`` would make one."""
    if "&" in (text if isinstance(text, str) else text.decode("latin-1")):
        text = _unique_anchors(text)
    probe = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    if "!" in probe and _MAYBE_NON_SPECIFIC.search(probe):
        return _NonSpecificTagLoader(text)  # type: ignore[return-value]
    return KubeLoader(text)


_LINE = re.compile(r"[^\r\n\x85\u2028\u2029]*(?:\r\n|[\r\n\x85\u2028\u2029]|$)")


def _unique_anchors(text: str | bytes) -> str | bytes:
    """``text`` with each anchor defined again in a document renamed, and the aliases after it
    with it: go-yaml lets a later ``&a`` replace an earlier one, PyYAML refuses it. Lines and
    line numbers stay as they were. Unchanged when nothing repeats or it does not scan."""
    try:
        source = text.decode("utf-8-sig") if isinstance(text, bytes) else text
    except UnicodeDecodeError:
        return text
    edits: list[tuple[int, int, int, str]] = []  # line, column, length, new text
    defined: Counter[str] = Counter()
    current: dict[str, str] = {}
    try:
        for token in yaml.scan(source, Loader=KubeLoader):
            if isinstance(token, (yaml.DocumentStartToken, yaml.DocumentEndToken)):
                defined.clear()
                current.clear()
            elif isinstance(token, yaml.AnchorToken):
                defined[token.value] += 1
                name = token.value if defined[token.value] == 1 else f"{token.value}__{defined[token.value]}"
                current[token.value] = name
                if name != token.value:
                    edits.append(
                        (token.start_mark.line, token.start_mark.column, len(token.value) + 1, f"&{name}")
                    )
            elif isinstance(token, yaml.AliasToken) and current.get(token.value, token.value) != token.value:
                mark = token.start_mark
                edits.append((mark.line, mark.column, len(token.value) + 1, f"*{current[token.value]}"))
    except yaml.YAMLError:
        return text  # the parse says what is wrong
    if not edits:
        return text
    lines = _LINE.findall(source)  # the line breaks libyaml counts (str.splitlines counts more)
    for line, column, length, new in reversed(edits):
        lines[line] = lines[line][:column] + new + lines[line][column + length :]
    return "".join(lines)


def load(text: str | bytes) -> Any:
    """The one YAML document of ``text`` as kubectl reads it (None when empty)."""
    reader = loader(text)
    try:
        return reader.get_single_data()
    finally:
        reader.dispose()


def load_all(text: str | bytes) -> Iterator[Any]:
    """Every document of a YAML stream, as kubectl reads them."""
    reader = loader(text)
    try:
        while reader.check_data():
            yield reader.get_data()
    finally:
        reader.dispose()


class _Quoting:
    """Quotes every string that go-yaml v2, v3 or PyYAML would read as something else."""

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        tag = str(super().resolve(kind, value, implicit))  # type: ignore[misc]
        if kind is ScalarNode and implicit[0] and tag == STR:
            return resolve_plain(value)[0]
        return tag

    def represent_float(self, data: float) -> ScalarNode:
        if data.is_integer() and abs(data) < 2**53:
            return self.represent_int(int(data))  # type: ignore[attr-defined,no-any-return]
        return super().represent_float(data)  # type: ignore[misc,no-any-return]


class QuotingDumper(_Quoting, yaml.SafeDumper):
    """PyYAML's own emitter, which writes text outside the Basic Multilingual Plane as itself."""


class _FastQuotingDumper(_Quoting, getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """libyaml's emitter: several times faster, but it escapes astral characters (\\U0001F680)."""


for _dumper in (QuotingDumper, _FastQuotingDumper):
    _dumper.add_representer(float, _dumper.represent_float)


def dump(data: Any, sort_keys: bool = False) -> str:
    """YAML text that kubectl, Helm, Kustomize and this loader all read back as ``data``, its
    text written as itself."""
    options: dict[str, Any] = {"sort_keys": sort_keys, "allow_unicode": True, "default_flow_style": False}
    text = yaml.dump(data, Dumper=_FastQuotingDumper, **options)
    return yaml.dump(data, Dumper=QuotingDumper, **options) if "\\U" in text else text


def json_bytes(data: Any) -> bytes:
    """JSON as a request body: UTF-8 with text as itself, since the API server reads an
    apply-patch+yaml body as YAML, where JSON's surrogate pair escapes are invalid."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
