"""Profile actions as data: CLI templates with typed parameters, success/failure patterns and
output parsers (regex, key-value, TextFSM), plus a device's interactive-CLI settings.

The pure part of running an action lives here: `render` turns an action and parameter values
into command lines (every value checked against its type, then quoted for a POSIX shell);
`judge` applies the success/failure patterns; `parse` turns output into rows.
"""

from __future__ import annotations

import io
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import textfsm
from pydantic import AfterValidator, Field, PrivateAttr, ValidationInfo, model_validator

from drivers.transport.ssh_cli import DEFAULT_PROMPT, CliOptions
from harness.base.errors import CommandFailed, ConfigError
from harness.base.schema import Duration, FieldError, NonEmptyStr, StrictModel

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_NAME = r"^[a-z_][a-z0-9_]*$"
_NEWLINES = {"lf": "\n", "cr": "\r", "crlf": "\r\n"}
ParamValue = int | float | str | bool
Rows = list[dict[str, str]]


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return pattern


Regex = Annotated[str, AfterValidator(_regex)]


class ParamSpec(StrictModel):
    """A typed action parameter: values are checked before any command is built."""

    type: Literal["int", "float", "str", "bool", "choice"] = "str"
    choices: list[str | int] = []
    min: float | None = None
    max: float | None = None
    pattern: Regex | None = None
    default: ParamValue | None = None
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        if self.type == "choice" and not self.choices:
            raise FieldError("a choice parameter needs `choices`", at=("choices",))
        if self.default is not None:
            try:
                self.check("default", self.default)
            except ConfigError as exc:
                raise FieldError(exc.reason, at=("default",)) from None
        return self

    def check(self, name: str, value: object) -> ParamValue:
        """`value` converted to this parameter's type; ConfigError saying what was wrong."""
        bad = ConfigError(f"parameter {name}: expected {self._expected()}, got {value!r}")
        if isinstance(value, bool) and self.type not in ("bool", "str", "choice"):
            raise bad
        converted: ParamValue
        try:
            if self.type == "int":
                converted = int(str(value), 10)
            elif self.type == "float":
                converted = float(str(value))
            elif self.type == "bool":
                if not isinstance(value, bool):
                    raise ValueError
                converted = value
            else:
                converted = str(value).lower() if isinstance(value, bool) else str(value)
        except ValueError:
            raise bad from None
        if self.type == "choice" and str(converted) not in [str(c) for c in self.choices]:
            raise bad
        if isinstance(converted, int | float) and not isinstance(converted, bool) and (
                (self.min is not None and converted < self.min)
                or (self.max is not None and converted > self.max)):
            raise bad
        if self.pattern is not None and not re.fullmatch(self.pattern, str(converted)):
            raise bad
        return converted

    def _expected(self) -> str:
        if self.type == "choice":
            return "one of " + ", ".join(str(c) for c in self.choices)
        text = {"int": "an integer", "float": "a number", "bool": "true or false",
                "str": "text"}[self.type]
        if self.min is not None or self.max is not None:
            low = "-inf" if self.min is None else f"{self.min:g}"
            high = "inf" if self.max is None else f"{self.max:g}"
            text += f" from {low} to {high}"
        if self.pattern is not None:
            text += f" matching {self.pattern!r}"
        return text


class NtcTemplate(StrictModel):
    """A template of the ntc-templates collection (TextFSM for network platforms), found by
    its index: `platform` as ntc-templates spells it (`cisco_ios`, `linux`…) and the
    `command` whose output it parses."""

    platform: NonEmptyStr
    command: NonEmptyStr

    @model_validator(mode="after")
    def _known(self) -> NtcTemplate:
        from ntc_templates.parse import ParsingException, parse_output

        try:
            parse_output(platform=self.platform, command=self.command, data="")
        except ParsingException:
            raise FieldError(f"ntc-templates has no template for platform {self.platform!r}, "
                             f"command {self.command!r} (its templates/index lists them)",
                             at=("command",)) from None
        return self

    def parse(self, output: str) -> Rows:
        """Rows (ntc-templates' lower-case column names)."""
        from ntc_templates.parse import parse_output

        rows = parse_output(platform=self.platform, command=self.command, data=output)
        return [{str(k): _text(v) for k, v in row.items()} for row in rows]


class ParserSpec(StrictModel):
    """How to turn a command's output into rows: exactly one of `regex` (named groups; every
    match is a row), `keyvalue` (one row of `key<sep>value` lines), `textfsm` (a template
    file next to the profile), `textfsm_template` (the template inline) or `ntc` (a template
    of the ntc-templates collection, by platform and command)."""

    regex: Regex | None = None
    keyvalue: NonEmptyStr | None = None
    textfsm: NonEmptyStr | None = None
    textfsm_template: NonEmptyStr | None = None
    ntc: NtcTemplate | None = None
    _template: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _one_kind(self, info: ValidationInfo) -> ParserSpec:
        given = [k for k in ("regex", "keyvalue", "textfsm", "textfsm_template", "ntc")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise FieldError("give exactly one of regex, keyvalue, textfsm, textfsm_template, "
                             "ntc", at=(given[1],) if given[1:] else ())
        if self.regex is not None and not re.compile(self.regex).groupindex:
            raise FieldError("the regex needs named groups, e.g. (?P<serial>\\S+)",
                             at=("regex",))
        text = self.textfsm_template
        if self.textfsm is not None:
            base = (info.context or {}).get("base_dir") if info else None
            path = Path(self.textfsm) if base is None else Path(base) / self.textfsm
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise FieldError(f"cannot read TextFSM template {path}: {exc.strerror}",
                                 at=("textfsm",)) from None
        if text is not None:
            try:
                textfsm.TextFSM(io.StringIO(text))
            except textfsm.TextFSMTemplateError as exc:
                at = "textfsm" if self.textfsm is not None else "textfsm_template"
                raise FieldError(f"not a valid TextFSM template: {exc}", at=(at,)) from None
            self._template = text
        return self

    def parse(self, output: str) -> Rows:
        """Rows found in `output` (possibly none)."""
        if self.regex is not None:
            return [{k: v or "" for k, v in m.groupdict().items()}
                    for m in re.finditer(self.regex, output, re.MULTILINE)]
        if self.keyvalue is not None:
            row: dict[str, str] = {}
            for line in output.splitlines():
                key, sep, value = line.partition(self.keyvalue)
                if sep and key.strip():
                    row[key.strip()] = value.strip()
            return [row] if row else []
        if self.ntc is not None:
            return self.ntc.parse(output)
        fsm = textfsm.TextFSM(io.StringIO(self._template))
        header = [str(h) for h in fsm.header]
        return [dict(zip(header, (_text(v) for v in row), strict=True))
                for row in fsm.ParseText(output)]


def _text(value: object) -> str:
    return " ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _check_template(template: str, allowed: set[str], at: tuple[str | int, ...]) -> None:
    for name in _PLACEHOLDER.findall(template):
        if name not in allowed:
            shown = ", ".join(f"{{{a}}}" for a in sorted(allowed)) or "none"
            raise FieldError(f"unknown placeholder {{{name}}} (declared: {shown})", at=at)


class ActionSpec(StrictModel):
    """An action: a CLI template (or a list of them) with typed parameters.

    `set_cell` instead gives `commands`: one template per cell parameter with {cell} and
    {value}. `mode` says where commands run: `exec` (one SSH exec channel each), `cli` (the
    interactive session) or `config` (the session's config mode). Any `failure` pattern in
    the output fails the action; when `success` patterns are given, one must match.
    """

    command: NonEmptyStr | list[NonEmptyStr] | None = None
    commands: dict[NonEmptyStr, NonEmptyStr] | None = None
    params: dict[Annotated[str, Field(pattern=_NAME)], ParamSpec] = {}
    mode: Literal["exec", "cli", "config"] = "exec"
    success: list[Regex] = []
    failure: list[Regex] = []
    parser: ParserSpec | None = None
    timeout: Duration | None = None
    description: str = ""

    @model_validator(mode="after")
    def _templates(self) -> ActionSpec:
        if (self.command is None) == (self.commands is None):
            raise FieldError("give either `command` (a template or a list of them) or "
                             "`commands` (one template per cell parameter)", at=("command",))
        if self.commands is not None:
            for param, template in self.commands.items():
                _check_template(template, {"cell", "value"}, ("commands", param))
        for i, template in enumerate(self.templates):
            at: tuple[str | int, ...] = ("command",) if isinstance(self.command, str) else (
                "command", i)
            _check_template(template, set(self.params), at)
        return self

    @property
    def templates(self) -> list[str]:
        """The command templates, in order."""
        if self.command is None:
            return []
        return [self.command] if isinstance(self.command, str) else list(self.command)

    def render(self, values: Mapping[str, object]) -> list[str]:
        """The command lines for `values`: each checked, defaulted and shell-quoted."""
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            raise ConfigError(f"unknown parameter {', '.join(unknown)} (the action takes: "
                              f"{', '.join(self.params) or 'none'})")
        checked: dict[str, str] = {}
        for name, spec in self.params.items():
            if name in values:
                value = spec.check(name, values[name])
            elif spec.default is not None:
                value = spec.default
            else:
                raise ConfigError(f"parameter {name} is required")
            text = (("true" if value else "false") if isinstance(value, bool) else str(value))
            checked[name] = shlex.quote(text)
        return [substitute(t, checked) for t in self.templates]


def substitute(template: str, quoted: Mapping[str, str]) -> str:
    """Fill `{name}` placeholders with already-quoted values (one pass, no re-expansion)."""
    return _PLACEHOLDER.sub(lambda m: quoted[m.group(1)], template)


def judge(device: str, command: str, output: str, exit_status: int | None,
          success: list[str], failure: list[str]) -> None:
    """Raise CommandFailed (with the output) if the command failed by status or pattern."""
    failed = exit_status not in (None, 0) or any(
        re.search(p, output, re.MULTILINE) for p in failure)
    if not failed and success:
        failed = not any(re.search(p, output, re.MULTILINE) for p in success)
    if failed:
        status = f" (exit {exit_status})" if exit_status not in (None, 0) else ""
        raise CommandFailed(f"{device}: '{command}' failed{status}: {output.strip()}")


class ConfigMode(StrictModel):
    """Commands that enter and leave the device's configuration mode."""

    enter: list[NonEmptyStr]
    exit: list[NonEmptyStr]


class CliSpec(StrictModel):
    """The device's interactive CLI (omit for devices where each command is an SSH exec)."""

    prompt: Regex = DEFAULT_PROMPT
    on_connect: list[NonEmptyStr] = []
    config: ConfigMode | None = None
    pager: Regex | None = None
    failure: list[Regex] = []
    newline: Literal["lf", "cr", "crlf"] = "lf"

    def options(self) -> CliOptions:
        """Options for the SSH transport's CLI session."""
        return CliOptions(
            prompt=self.prompt, on_connect=tuple(self.on_connect), failure=tuple(self.failure),
            config_enter=tuple(self.config.enter) if self.config else (),
            config_exit=tuple(self.config.exit) if self.config else (),
            pager=self.pager, newline=_NEWLINES[self.newline])


class CommandFact(StrictModel):
    """A fact read from a command's output: the parser's first row, column `field`
    (default: the fact's own name, else the only column)."""

    command: NonEmptyStr
    parser: ParserSpec
    field: NonEmptyStr | None = None
    mode: Literal["exec", "cli"] = "exec"

    def pick(self, fact: str, rows: Rows) -> str:
        """The fact's value out of parsed rows ("" when the output did not have it)."""
        if not rows:
            return ""
        row = rows[0]
        key = self.field or (fact if fact in row else next(iter(row), ""))
        return row.get(key, "")



@dataclass(frozen=True)
class ActionResult:
    """What an action did: the commands sent, their combined output, and the parsed rows."""

    action: str
    commands: list[str]
    output: str
    rows: Rows
