"""YAML loading that remembers where every value came from.

PyYAML's constructed objects forget their marks, so this module composes the
node tree itself and records, for every value, its position and raw text in a
:class:`SourceMap` keyed by the value's path (a tuple of keys and indexes).
Expressions are parsed from that raw text, which keeps literals such as
``1.50`` exact and lets errors point at the column inside an expression.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import yaml

from pyengine.errors import Diagnostic, Pos

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Located:
    """Where a YAML value starts, and (for scalars) its text as written."""

    pos: Pos
    text: str | None = None
    style: str | None = None
    raw: str | None = None  # the source slice, quotes included
    block_indent: int | None = None  # for | and > scalars: content indentation

    def at(self, offset: int) -> Pos:
        """Position of character ``offset`` of the scalar's value.

        Exact for plain and quoted scalars without escapes or folding, and for
        literal block scalars; otherwise the scalar's start (never wrong, only
        less precise).
        """
        if self.text is None:
            return self.pos
        offset = min(offset, len(self.text))
        starts = self._line_starts
        line = bisect.bisect_right(starts, offset) - 1  # line breaks before offset
        col = offset - starts[line]  # 0-based, in that line
        if self.style in ("|", ">") and self.block_indent is not None:
            return Pos(self.pos.path, self.pos.line + 1 + line, self.block_indent + col + 1)
        if not self._as_written:
            return self.pos
        if line == 0:
            return self.pos.shifted(cols=self._quote + offset)
        return Pos(self.pos.path, self.pos.line + line, col + 1)

    # Computed once: ``at`` is called for every token of an expression, and an
    # expression may be a megabyte long (a list of 100,000 values).
    @cached_property
    def _line_starts(self) -> list[int]:
        text = self.text or ""
        return [0, *(k + 1 for k, c in enumerate(text) if c == "\n")]

    @cached_property
    def _quote(self) -> int:
        return 1 if self.style in ("'", '"') else 0

    @cached_property
    def _as_written(self) -> bool:
        """Whether the value is its source text between the quotes (no escapes, no folding)."""
        raw, quote = self.raw, self._quote
        return raw is not None and raw[quote : len(raw) - quote] == self.text


@dataclass
class SourceMap:
    """Positions of every value of one YAML document, by path."""

    path: str
    entries: dict[Path_, Located] = field(default_factory=dict)

    def get(self, path: Path_) -> Located:
        """The located value at ``path``, or the nearest enclosing one."""
        while path not in self.entries and path:
            path = path[:-1]
        return self.entries.get(path, Located(Pos(self.path, 1, 1)))

    def pos(self, path: Path_) -> Pos:
        """Start position of the value at ``path`` (or its nearest parent)."""
        return self.get(path).pos

    def key_pos(self, path: Path_) -> Pos:
        """Position of the key naming the value at ``path``."""
        return self.entries.get((*path, "<key>"), self.get(path)).pos


class YamlError(Exception):
    """A YAML document could not be read; carries positioned diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__("; ".join(d.message for d in diagnostics))


class _Loader(yaml.SafeLoader):
    """A SafeLoader that refuses aliases: each would be built again where it is used, so
    a dozen nested ones (a "billion laughs") would take the memory and time of billions
    of values. Rule files do not need them."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, f"aliases (*{event.anchor}) are not supported in rule files: "
                "write the value out", event.start_mark)
        return super().compose_node(parent, index)


def load(text: str, path: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data plus its :class:`SourceMap`."""
    try:
        loader = _Loader(text)  # refuses control characters, such as NUL, at once
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        pos = Pos(path, before.count("\n") + 1, len(before) - before.rfind("\n"))
        raise YamlError([Diagnostic(pos, f"invalid YAML: character U+{exc.character:04X} is "
                                         "not allowed")]) from exc
    try:
        node = loader.get_single_node()
        smap = SourceMap(path)
        if node is None:
            return None, smap
        builder = _Builder(loader, smap, text)
        data = builder.build(node, ())
        if builder.problems:
            raise YamlError(builder.problems)
        return data, smap
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Pos(path, mark.line + 1, mark.column + 1) if mark else Pos(path, 1, 1)
        raise YamlError([Diagnostic(pos, f"invalid YAML: {exc.problem or exc}")]) from exc
    except yaml.YAMLError as exc:
        raise YamlError([Diagnostic(Pos(path, 1, 1), f"invalid YAML: {exc}")]) from exc
    finally:
        loader.dispose()


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, smap: SourceMap, text: str):
        self.loader = loader
        self.smap = smap
        self.text = text
        self.problems: list[Diagnostic] = []

    def pos(self, node: yaml.Node) -> Pos:
        return Pos(self.smap.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: Path_) -> Any:
        if isinstance(node, yaml.MappingNode):
            self.smap.entries[path] = Located(self.pos(node))
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            self.smap.entries[path] = Located(self.pos(node))
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        self.smap.entries[path] = self.scalar(node)
        return self.loader.construct_object(node, deep=True)

    def check_characters(self, node: yaml.ScalarNode) -> None:
        # A "\ud800" escape in a double-quoted scalar gives a lone surrogate: not a
        # character, so no UTF-8 (Java's, a result file's, a terminal's) can hold it.
        lone = next((c for c in node.value if "\ud800" <= c <= "\udfff"), None)
        if lone is not None:
            self.problems.append(Diagnostic(self.pos(node), f"U+{ord(lone):04X} is a lone "
                                            "surrogate (a \\u escape?), not a character"))

    def mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        self.loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Diagnostic(self.pos(key_node), "mapping keys must be plain"))
                continue
            self.check_characters(key_node)
            key = str(self.loader.construct_object(key_node))
            if key in out:
                self.problems.append(Diagnostic(self.pos(key_node), f"duplicate key '{key}'"))
                continue
            self.smap.entries[(*path, key, "<key>")] = Located(self.pos(key_node))
            out[key] = self.build(value_node, (*path, key))
        return out

    def scalar(self, node: yaml.ScalarNode) -> Located:
        self.check_characters(node)
        raw = self.text[node.start_mark.index : node.end_mark.index]
        indent = None
        if node.style in ("|", ">"):
            indent = _block_indent(self.text, node.start_mark.line + 1)
        return Located(self.pos(node), node.value, node.style, raw, indent)


def _block_indent(text: str, line_index: int) -> int | None:
    for line in text.splitlines()[line_index:]:
        if line.strip():
            return len(line) - len(line.lstrip(" "))
    return None
