"""Kuscia's config-template syntax, compiled onto jinja2's sandbox and rendered per pod (SPEC §4).

Only Kuscia's two forms are template syntax: `{{.NAME}}` (the value escaped as a
JSON string body) and `{{{.NAME.path}}}` (a query into a JSON value: a string is
inserted raw, anything else written as Kuscia writes it, see builders.gojson).
The user's text never reaches jinja's lexer: each template is parsed here into
literal runs and actions, and one fixed jinja loop, compiled once, emits `L[i]`
(the literal runs, kept as constants, so `{%`, `{#` and `\r\n` stay byte for byte)
and `A[i]` (each action's value, worked out beforehand by walking plain JSON data,
never Python attributes). Like Go's text/template, any other `{{ ... }}` is a
parse error naming the file, line and column.

Hostile templates are bounded, not trusted: the template's size, its number of
actions and how deep queries nest are capped when it is compiled (a jinja source
per action would cost seconds and hundreds of MB per thousand actions); the output
is capped as it is produced; and the JSON elements a task's queries may scan are
counted against a budget shared by every rendering of the task.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment

from builders import gojson
from builders.limits import MAX_TASK_CONFIG_BYTES

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLAIN = re.compile(rf"\s*\.({_NAME})\s*")
_NAME_AT = re.compile(_NAME)
_FIELD_AT = re.compile(r"[^.\[\]\s]+")
_INDEX = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi takes; -1 is the last element
_SURROGATE = re.compile("[\ud800-\udfff]")

MAX_TEMPLATE_BYTES = 1024 * 1024  # more could never fit in the pod's ConfigMap
MAX_ACTIONS = 10_000  # per template
MAX_QUERY_DEPTH = 8  # `[.NAME[.NAME[...]]]` nesting
MAX_QUERY_WORK = 1_000_000  # JSON elements and bytes scanned by one task's queries


# --- the syntax tree ----------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """`.field`: a key of a JSON object."""

    name: str


@dataclass(frozen=True)
class Index:
    """`[3]`: an element of a JSON array; `[-1]` the last."""

    position: int


@dataclass(frozen=True)
class Match:
    """`[key=value]`: the first element of an array whose `key` equals `value`."""

    key: str
    value: str


@dataclass(frozen=True)
class Ref:
    """`[.NAME.path]`: an index (or key) read from another query."""

    path: Path


Step = Key | Index | Match | Ref


@dataclass(frozen=True)
class Path:
    variable: str
    steps: tuple[Step, ...]
    text: str  # as written, without the leading '.', for reports


@dataclass(frozen=True)
class Plain:
    """`{{.NAME}}`."""

    variable: str


@dataclass(frozen=True)
class Query:
    """`{{{.NAME.path}}}`."""

    path: Path


Action = Plain | Query


class TemplateRefused(Exception):
    """A template (or a rendering of it) past one of the bounds above."""

    def __init__(self, file: str, problem: str) -> None:
        super().__init__(f"config template {file!r} {problem}")
        self.file = file
        self.problem = problem


class TemplateSyntaxError(Exception):
    def __init__(self, file: str, line: int, column: int, problem: str) -> None:
        super().__init__(f"config template {file!r} line {line} column {column}: {problem}")
        self.file = file
        self.line = line
        self.column = column
        self.problem = problem


# --- parsing -------------------------------------------------------------------


def parse(file: str, text: str) -> tuple[list[str], list[Action]]:
    """Literal runs and actions, interleaved: literals[i] comes before actions[i]; one more
    literal than actions. Raises TemplateSyntaxError, or TemplateRefused past a bound."""
    size = _utf8_len(text)
    if size > MAX_TEMPLATE_BYTES:
        raise TemplateRefused(file, f"is {size} bytes; at most {MAX_TEMPLATE_BYTES} are allowed")
    literals: list[str] = []
    actions: list[Action] = []
    pos = 0
    while (start := text.find("{{", pos)) >= 0:
        if len(actions) == MAX_ACTIONS:
            raise TemplateRefused(file, f"has more than {MAX_ACTIONS} {{{{...}}}} actions")
        if text.startswith("{{{", start):
            end = text.find("}}}", start + 3)
            if end < 0:
                raise _error(file, text, start, "'{{{' is never closed by '}}}'")
            actions.append(Query(_parse_query(file, text, start + 3, end, depth=0)))
            close = end + 3
        else:
            end = text.find("}}", start + 2)
            if end < 0:
                raise _error(file, text, start, "'{{' is never closed by '}}'")
            match = _PLAIN.fullmatch(text, start + 2, end)
            if match is None:
                raise _error(
                    file,
                    text,
                    start,
                    f"unsupported action {_excerpt(text[start : end + 2])}; "
                    "expected {{.NAME}} or {{{.NAME.path}}}",
                )
            actions.append(Plain(match.group(1)))
            close = end + 2
        literals.append(text[pos:start])
        pos = close
    literals.append(text[pos:])
    return literals, actions


def _parse_query(file: str, text: str, start: int, end: int, *, depth: int) -> Path:
    pos = start
    while pos < end and text[pos].isspace():
        pos += 1
    stop = end
    while stop > pos and text[stop - 1].isspace():
        stop -= 1
    path, after = _parse_path(file, text, pos, stop, depth=depth)
    if after != stop:
        raise _error(file, text, after, f"unexpected {_excerpt(text[after:stop])} in query")
    return path


def _parse_path(file: str, text: str, pos: int, stop: int, *, depth: int) -> tuple[Path, int]:
    """A path `.NAME(.field|[...])*` starting at pos; returns it and where it ended."""
    if depth > MAX_QUERY_DEPTH:
        raise _error(file, text, pos, f"queries nest more than {MAX_QUERY_DEPTH} levels deep")
    begin = pos
    if pos >= stop or text[pos] != ".":
        raise _error(file, text, pos, "a query must start with '.NAME'")
    name = _NAME_AT.match(text, pos + 1, stop)
    if name is None:
        raise _error(file, text, pos, "a query must start with '.NAME'")
    pos = name.end()
    steps: list[Step] = []
    while pos < stop and text[pos] in ".[":
        if text[pos] == ".":
            key = _FIELD_AT.match(text, pos + 1, stop)
            if key is None:
                raise _error(file, text, pos, "'.' must be followed by a field name")
            steps.append(Key(key.group()))
            pos = key.end()
            continue
        step, pos = _parse_bracket(file, text, pos, stop, depth=depth)
        steps.append(step)
    return Path(name.group(), tuple(steps), text[begin + 1 : pos]), pos


def _parse_bracket(file: str, text: str, pos: int, stop: int, *, depth: int) -> tuple[Step, int]:
    inner = pos + 1
    if inner < stop and text[inner] == ".":
        path, after = _parse_path(file, text, inner, stop, depth=depth + 1)
        if after >= stop or text[after] != "]":
            raise _error(file, text, pos, "'[' is never closed by ']'")
        return Ref(path), after + 1
    close = text.find("]", inner, stop)
    if close < 0:
        raise _error(file, text, pos, "'[' is never closed by ']'")
    content = text[inner:close]
    if _INDEX.fullmatch(content):
        return Index(int(content)), close + 1
    key, equals, value = content.partition("=")
    if equals and key:
        return Match(key, value), close + 1
    raise _error(
        file,
        text,
        pos,
        f"{_excerpt(text[pos : close + 1])} is not [N], [key=value] or [.NAME.path]",
    )


def _error(file: str, text: str, offset: int, problem: str) -> TemplateSyntaxError:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return TemplateSyntaxError(file, line, column, problem)


def _excerpt(source: str, limit: int = 60) -> str:
    return repr(source if len(source) <= limit else source[:limit] + "...")


# --- compiling -----------------------------------------------------------------


def _sandbox() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        autoescape=False,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        cache_size=0,
    )
    # The generated sources use none of jinja's globals, filters or tests: nothing to reach.
    env.globals.clear()
    env.filters.clear()
    env.tests.clear()
    return env


_ENV = _sandbox()
# The same few lines for every template: compiled once, however many actions there are.
_LOOP = _ENV.compile("{% for a in A %}{{ L[loop.index0] }}{{ a }}{% endfor %}{{ L[-1] }}")


@dataclass(frozen=True)
class CompiledTemplate:
    file: str
    template: Template
    actions: tuple[Action, ...]
    literal_bytes: int


def compile_template(file: str, text: str) -> CompiledTemplate:
    """Raises TemplateSyntaxError or TemplateRefused."""
    literals, actions = parse(file, text)
    template = _ENV.template_class.from_code(
        _ENV, _LOOP, _ENV.make_globals({"L": tuple(literals)}), None
    )
    return CompiledTemplate(
        file=file,
        template=template,
        actions=tuple(actions),
        literal_bytes=sum(_utf8_len(literal) for literal in literals),
    )


# --- rendering -----------------------------------------------------------------


class OutputTooLarge(Exception):
    def __init__(self, file: str, limit: int) -> None:
        super().__init__(f"config template {file!r} renders to more than {limit} bytes")
        self.file = file
        self.limit = limit


@dataclass
class Rendered:
    text: str
    size: int  # UTF-8 bytes
    unknown: list[str] = field(default_factory=list)  # variables and paths that were not there


_MISSING: Any = object()


class Workspace:
    """What every rendering of one task shares: the JSON values parsed last (keyed by
    their text, so a large TASK_INPUT_CONFIG is parsed once, not once per pod and
    template, while each pod's own TASK_CLUSTER_DEFINE is soon let go), the query
    work still allowed, and the output bytes still allowed (the caller spends them,
    since it knows what the output is for)."""

    PARSED_KEPT = 8

    def __init__(self, work: int = MAX_QUERY_WORK, output: int = MAX_TASK_CONFIG_BYTES) -> None:
        self.parsed: OrderedDict[str, Any] = OrderedDict()
        self.work = work
        self.work_left = work
        self.output = output
        self.output_left = output


class _Run:
    """The state of one rendering: the values, what was missing, how many bytes so far."""

    def __init__(
        self,
        compiled: CompiledTemplate,
        values: Mapping[str, str],
        limit: int,
        workspace: Workspace,
    ) -> None:
        self.compiled = compiled
        self.values = values
        self.budget = limit - compiled.literal_bytes
        self.limit = limit
        self.unknown: list[str] = []
        self.workspace = workspace
        self.resolved: dict[str, Any] = {}  # query text -> value: a repeated query costs once
        if self.budget < 0:
            raise OutputTooLarge(compiled.file, limit)

    def _spend(self, work: int) -> None:
        self.workspace.work_left -= work
        if self.workspace.work_left < 0:
            raise TemplateRefused(
                self.compiled.file,
                f"needs its queries to scan more than {self.workspace.work} JSON elements "
                "and bytes for this task",
            )

    def _emit(self, text: str) -> str:
        self.budget -= _utf8_len(text)
        if self.budget < 0:
            raise OutputTooLarge(self.compiled.file, self.limit)
        return text

    def plain(self, action: Plain) -> str:
        value = self.values.get(action.variable)
        if value is None:
            self.unknown.append(action.variable)
            return ""
        return self._emit(escape_string_body(value))

    def query(self, action: Query) -> str:
        value = self._resolve(action.path)
        if value is _MISSING:
            self.unknown.append(action.path.text)
            return ""
        if value is None:  # JSON null: Kuscia writes nothing
            return ""
        text = value if isinstance(value, str) else self._dumps(value)
        if _SURROGATE.search(text):  # as Go decodes a lone surrogate escape
            text = _SURROGATE.sub("\ufffd", text)
        return self._emit(text)

    def _dumps(self, value: Any) -> str:
        return value.text if isinstance(value, gojson.GoFloat) else gojson.dumps(value)

    def _resolve(self, path: Path) -> Any:
        raw = self.values.get(path.variable)
        if raw is None:
            return _MISSING
        if path.text in self.resolved:
            return self.resolved[path.text]
        if not path.steps:
            # Kuscia inserts a variable as it is unless it holds a JSON object or array.
            value: Any = raw
            if raw.lstrip(" \t\r\n")[:1] in ("{", "["):
                parsed = self._json(path.variable, raw)
                if isinstance(parsed, dict | list):
                    value = parsed
            self.resolved[path.text] = value
            return value
        value = self._json(path.variable, raw)
        for step in path.steps:
            self._spend(1)
            value = self._step(value, step)
            if value is _MISSING:
                break
        self.resolved[path.text] = value
        return value

    def _json(self, name: str, raw: str) -> Any:
        parsed = self.workspace.parsed
        if raw in parsed:
            parsed.move_to_end(raw)
            return parsed[raw]
        self._spend(len(raw) // 64)  # parsing is fast; a large value still costs
        try:
            value = gojson.loads(raw)
        except ValueError:
            value = _MISSING
        except RecursionError:
            raise TemplateRefused(
                self.compiled.file,
                f"queries variable {name}, whose JSON nests too deeply to be read",
            ) from None
        parsed[raw] = value
        if len(parsed) > Workspace.PARSED_KEPT:
            parsed.popitem(last=False)
        return value

    def _step(self, value: Any, step: Step) -> Any:
        if isinstance(step, Key):
            return value.get(step.name, _MISSING) if isinstance(value, dict) else _MISSING
        if isinstance(step, Index):
            return _element(value, step.position)
        if isinstance(step, Match):
            if not isinstance(value, list):
                return _MISSING
            for element in value:
                self._spend(1)
                if isinstance(element, dict) and element.get(step.key) is not None:
                    found = element[step.key]
                    if isinstance(found, str):
                        text = found
                    else:  # Kuscia compares what json.Marshal writes
                        text = self._dumps(found)
                        self._spend(len(text))
                    if text == step.value:
                        return element
            return _MISSING
        key = self._resolve(step.path)
        # Kuscia indexes arrays only; a string also picks an object's key here.
        if isinstance(key, str) and isinstance(value, dict):
            return value.get(key, _MISSING)
        index = gojson.as_index(key)
        return _MISSING if index is None else _element(value, index)


def _element(value: Any, position: int) -> Any:
    """Kuscia's bounds: -len < position < len, a negative one counting from the end."""
    if isinstance(value, list) and -len(value) < position < len(value):
        return value[position]
    return _MISSING


def render(
    compiled: CompiledTemplate,
    values: Mapping[str, str],
    *,
    limit: int,
    workspace: Workspace | None = None,
) -> Rendered:
    """Renders one template for one pod; raises OutputTooLarge past `limit` UTF-8 bytes
    and TemplateRefused when the queries spend the workspace's work budget."""
    run = _Run(compiled, values, limit, Workspace() if workspace is None else workspace)
    outputs = [
        run.plain(action) if isinstance(action, Plain) else run.query(action)
        for action in compiled.actions
    ]
    text = compiled.template.render(A=outputs)
    return Rendered(text, limit - run.budget, run.unknown)


def escape_string_body(value: str) -> str:
    """The value as the inside of a JSON string: quotes, backslashes and control
    characters escaped, no surrounding quotes; lone surrogates escaped too, so the
    result is always valid UTF-8."""
    body: str = encode_basestring(value)[1:-1]
    if _SURROGATE.search(body):
        body = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", body)
    return body


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
