"""YAML text → plain data plus the position of every node (the loader's first half).

`HarnessLoader` is a `yaml.SafeLoader` that keeps every node's position and rejects duplicate
keys. Scalars follow the YAML 1.2 core schema: only `true`/`false` are booleans (`no`, `on`
stay strings) and `10:2:2` is not a base-60 number. Anchors, aliases and `<<` merge keys work;
alias expansion is capped so an alias bomb fails fast. Every problem is a `ConfigError` at its
line and column; `harness.base.loader` validates the data against a model.
"""

from __future__ import annotations

import copy
import math
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.base.errors import ConfigError
from harness.base.positions import FieldPath, Position, PositionIndex, format_field_path
from harness.base.schema import show_value

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "HarnessLoader",
    "load_yaml",
    "parse_yaml",
    "read_input",
]

MAX_ALIAS_NODES = 10_000
"""Most nodes that aliases and merge keys may expand to in one document."""
MAX_DEPTH = 100
"""Deepest nesting accepted; deeper is either a mistake or an attack."""
MAX_FILE_BYTES = 4 << 20
"""Largest lab, scenario or profile file read (4 MiB); a bigger one is a mistake."""

_Y = "tag:yaml.org,2002:"
_NULL, _BOOL, _INT, _FLOAT, _STR, _MERGE = (
    _Y + t for t in ("null", "bool", "int", "float", "str", "merge")
)
_SCALAR_FORMS = {
    _NULL: re.compile(r"~|null|Null|NULL|"),
    _BOOL: re.compile(r"true|True|TRUE|false|False|FALSE"),
    _INT: re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"),
    _FLOAT: re.compile(
        r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    ),
}


class HarnessLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalars whose aliases keep the position they appear at."""

    # PyYAML reads resolvers from a class-level table; this class has its own, filled below.
    yaml_implicit_resolvers: dict[Any, Any] = {}

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_nodes: set[int] = set()

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        """Compose as usual; an alias becomes a shallow copy of its anchor marked where it is."""
        if not self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        event = self.peek_event()  # type: ignore[no-untyped-call]
        target = super().compose_node(parent, index)
        alias = copy.copy(target)
        if alias is not None:
            alias.start_mark, alias.end_mark = event.start_mark, event.end_mark
            self.alias_nodes.add(id(alias))
        return alias

    def compose_single(self) -> Node | None:
        """The file's only document (None when there is none); a second one is an error."""
        self.get_event()  # type: ignore[no-untyped-call] # the stream start
        if self.check_event(yaml.StreamEndEvent):
            return None
        node = self.compose_document()
        if not self.check_event(yaml.StreamEndEvent):
            second = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.MarkedYAMLError(
                problem="the file holds more than one YAML document (a second starts here); "
                "put each in its own file", problem_mark=second)
        return node


for _tag, _form in _SCALAR_FORMS.items():
    HarnessLoader.add_implicit_resolver(_tag, re.compile(rf"(?:{_form.pattern})\Z"), None)
HarnessLoader.add_implicit_resolver(_MERGE, re.compile(r"<<\Z"), ["<"])


def read_input(path: Path, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of an input file: only a regular file (never a device, FIFO or socket, which
    could hang or never end) and at most `limit` bytes; else a ConfigError naming the file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a directory" if stat.S_ISDIR(info.st_mode) else \
                "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
            raise ConfigError(f"not a regular file ({what})", file=str(path))
        if info.st_size > limit:
            raise ConfigError(f"the file is larger than {_size(limit)} ({info.st_size} "
                              "bytes): refusing to read it", file=str(path))
        with os.fdopen(fd, "rb") as handle:
            fd = -1  # the handle owns it now
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(raw) > limit:  # it grew while being read
        raise ConfigError(f"the file is larger than {_size(limit)}", file=str(path))
    return raw


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"


def load_yaml(path: Path) -> tuple[object, PositionIndex]:
    """Read one YAML file (a regular file of at most MAX_FILE_BYTES) into plain data plus
    the position of every node."""
    raw = read_input(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x} here); "
                          "save it as UTF-8", file=str(path), line=line, column=column) from None
    return parse_yaml(text, file=str(path))


def parse_yaml(text: str, *, file: str = "<string>") -> tuple[object, PositionIndex]:
    """Parse YAML text as `load_yaml` does; `file` is the name used in error messages."""
    try:
        data, builder = _compose(text, file)
    except yaml.reader.ReaderError as exc:
        line, column = _text_position(text, exc.position)
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "?")
        raise ConfigError(f"character U+{char:04X} is not allowed in YAML",
                          file=file, line=line, column=column) from None
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, file) from None
    except RecursionError:
        raise ConfigError(f"nesting is deeper than {MAX_DEPTH} levels",
                          file=file, line=1, column=1) from None
    if data is None:
        raise ConfigError("file is empty", file=file, line=1, column=1)
    return data, PositionIndex(values=builder.values, keys=builder.keys)


def _compose(text: str, file: str) -> tuple[object, _Builder]:
    loader = HarnessLoader(text)
    try:
        root = loader.compose_single()
        builder = _Builder(file, loader.alias_nodes)
        return (None if root is None else builder.build(root, (), in_alias=False)), builder
    finally:
        loader.dispose()


def _text_position(text: str, offset: int) -> Position:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _yaml_error(exc: yaml.MarkedYAMLError, file: str) -> ConfigError:
    """A ConfigError at the problem's mark, with PyYAML's wording and no traceback."""
    mark = exc.problem_mark or exc.context_mark
    message = exc.problem or exc.context or "invalid YAML"
    if exc.problem and exc.context:
        message += f" ({exc.context}"
        if exc.context_mark is not None:
            cm = exc.context_mark
            message += f" at line {cm.line + 1}, column {cm.column + 1}"
        message += ")"
    if "'\\t'" in message:
        message += "; indent with spaces, not tabs"
    if mark is None:
        return ConfigError(message, file=file)
    return ConfigError(message, file=file, line=mark.line + 1, column=mark.column + 1)


def _mark(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _tag_name(tag: str) -> str:
    return "!!" + tag.removeprefix(_Y) if tag.startswith(_Y) else tag


def _path_key(key: object) -> str | int:
    if isinstance(key, str) or (isinstance(key, int) and not isinstance(key, bool)):
        return key
    return show_value(key)


class _Builder:
    """Turns a composed node graph into dicts, lists and scalars, recording positions."""

    def __init__(self, file: str, alias_nodes: set[int]) -> None:
        self.file = file
        self.alias_nodes = alias_nodes
        self.values: dict[FieldPath, Position] = {}
        self.keys: dict[FieldPath, Position] = {}
        self.expanded = 0
        self.active: list[int] = []  # ids of the collections being built (recursion guard)

    def fail(self, node: Node, message: str, path: FieldPath = ()) -> ConfigError:
        line, column = _mark(node)
        return ConfigError(message, file=self.file, line=line, column=column,
                           field=format_field_path(path) or None)

    def count(self, node: Node, path: FieldPath) -> None:
        self.expanded += 1
        if self.expanded > MAX_ALIAS_NODES:
            raise self.fail(node, f"aliases expand to more than {MAX_ALIAS_NODES} nodes; "
                                  "refusing the document (an alias bomb?)", path)

    def build(self, node: Node, path: FieldPath, *, in_alias: bool) -> object:
        in_alias = in_alias or id(node) in self.alias_nodes
        if in_alias:
            self.count(node, path)
        if len(path) > MAX_DEPTH:
            raise self.fail(node, f"nesting is deeper than {MAX_DEPTH} levels")
        self.values[path] = _mark(node)
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if node.tag not in (_Y + "map", _Y + "seq"):
            raise self.fail(node, f"unsupported YAML tag {_tag_name(node.tag)!r}", path)
        if id(node.value) in self.active:
            raise self.fail(node, "this alias refers to a node that contains it", path)
        self.active.append(id(node.value))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i), in_alias=in_alias)
                        for i, item in enumerate(node.value)]
            result: dict[object, object] = {}
            for key, key_node, value_node, merged in self.entries(node, path):
                sub = (*path, _path_key(key))
                self.keys[sub] = _mark(key_node)
                result[key] = self.build(value_node, sub, in_alias=in_alias or merged)
            return result
        finally:
            self.active.pop()

    def entries(self, node: Node, path: FieldPath) -> list[tuple[object, Node, Node, bool]]:
        """A mapping's entries, duplicates rejected; `<<` merges fill in keys not given."""
        found: list[tuple[object, Node, Node, bool]] = []
        first: dict[object, Node] = {}
        merge_key: Node | None = None
        sources: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                if merge_key is not None:
                    raise self.fail(key_node, "duplicate key '<<' (first at line "
                                              f"{_mark(merge_key)[0]})")
                merge_key = key_node
                sources = list(self.merge_sources(value_node))
                continue
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, "a mapping key must be a plain value, "
                                          "not a list or a mapping", path)
            key = self.scalar(key_node, path)
            if key in first:
                raise self.fail(key_node, f"duplicate key {show_value(key)} "
                                          f"(first at line {_mark(first[key])[0]})",
                                (*path, _path_key(key)))
            first[key] = key_node
            found.append((key, key_node, value_node, False))
        for source in sources:
            if id(source.value) in self.active:
                raise self.fail(source, "this merge refers to a mapping that contains it", path)
            self.active.append(id(source.value))
            try:
                for key, key_node, value_node, _ in self.entries(source, path):
                    self.count(key_node, path)
                    if key not in first:
                        first[key] = key_node
                        found.append((key, key_node, value_node, True))
            finally:
                self.active.pop()
        return found

    def merge_sources(self, value: Node) -> Iterator[Node]:
        items = value.value if isinstance(value, SequenceNode) else [value]
        for item in items:
            if not isinstance(item, MappingNode):
                raise self.fail(item, "a merge key '<<' takes a mapping or a list of mappings")
            yield item

    def scalar(self, node: ScalarNode, path: FieldPath = ()) -> object:
        """A scalar by the YAML 1.2 core schema; other tags (timestamps, `!custom`) refused."""
        tag, text = node.tag, node.value
        if tag in (_STR, _MERGE, "!"):
            return text
        form = _SCALAR_FORMS.get(tag)
        if form is None:
            raise self.fail(node, f"unsupported YAML tag {_tag_name(tag)!r}; "
                                  "quote the value if it is text", path)
        if form.fullmatch(text) is None:
            raise self.fail(node, f"{text!r} is not a valid {_tag_name(tag)}", path)
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return text.lower() == "true"
        if tag == _INT:
            body = text.lstrip("+-")
            base = {"0o": 8, "0x": 16}.get(body[:2], 10)
            return int(text if base == 10 else body[2:], base)
        lower = text.lower()
        if lower.endswith((".inf", ".nan")):
            return -math.inf if lower.startswith("-") else math.nan if "nan" in lower else math.inf
        return float(text)
