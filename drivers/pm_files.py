"""3GPP PM files: TS 32.435 `measCollecFile` XML (optionally gzip) → counter values.

A device's PM file is hostile input. It is parsed with defusedxml's SAX reader with DTDs
forbidden, so an XXE, an entity expansion ("billion laughs") or an external DTD is refused
before anything is expanded; a gzip member may not inflate beyond `MAX_XML_BYTES`. Every
problem is a `PmFileError` naming the file and, where the parser knows it, the line.

What is read: `fileHeader/fileSender@localDn` (the sender), `fileHeader/measCollec@beginTime`,
each `measInfo`'s `granPeriod@duration` (ISO 8601, e.g. `PT900S`) and `@endTime`, its
`measType p=` names and each `measValue@measObjLdn` with its `r p=` results and `suspect`
flag. The older `measTypes`/`measResults` (space-separated lists) are read as well. A result
`NIL` or empty is "no value" (None), never a zero. The object instance's cell is the number of
its last `...Cell...=N` RDN (e.g. `NRCellDU=1`); its PLMN is a `PLMN=`/`plmnId=` RDN.
"""

from __future__ import annotations

import gzip
import io
import re
import xml.sax
import xml.sax.handler
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import defusedxml
import defusedxml.sax

from harness.base.errors import ConfigError

NAMESPACE = "http://www.3gpp.org/ftp/specs/archive/32_series/32.435#measCollec"
MAX_XML_BYTES = 64 * 1024 * 1024
_DURATION = re.compile(r"^P(?:([0-9]+)D)?(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?"
                       r"(?:([0-9]+(?:\.[0-9]+)?)S)?)?$")
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


class PmFileError(ConfigError):
    """A PM file that cannot be read: the message names the file (and line) and why."""


@dataclass(frozen=True)
class PmValue:
    """One counter of one object instance over one granularity period."""

    counter: str
    ldn: str  # measObjLdn, e.g. ManagedElement=gnb1,GNBDUFunction=1,NRCellDU=1
    value: int | float | None  # None: the device reported no value (NIL)
    end: datetime  # the granularity period's end
    granularity_s: float
    suspect: bool = False
    line: int = 0

    @property
    def cell(self) -> int | None:
        """The cell number from the object's last `...Cell...=N` RDN, if any."""
        return ldn_cell(self.ldn)

    @property
    def plmn(self) -> str | None:
        """The PLMN id from a `PLMN=`/`plmnId=` RDN, if any."""
        return ldn_plmn(self.ldn)


@dataclass(frozen=True)
class PmFile:
    """A parsed measCollecFile."""

    path: str
    sender: str
    begin: datetime | None
    end: datetime | None
    values: list[PmValue] = field(default_factory=list)

    def counters(self) -> list[str]:
        """Counter names in the order the file first gives them."""
        return list(dict.fromkeys(v.counter for v in self.values))


def _rdns(ldn: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for part in ldn.split(","):
        key, sep, value = part.partition("=")
        if sep:
            pairs.append((key.strip(), value.strip()))
    return pairs


def ldn_cell(ldn: str) -> int | None:
    """The cell number a measObjLdn names (its last `...Cell...=N` RDN), else None."""
    for key, value in reversed(_rdns(ldn)):
        if "cell" in key.lower() and value.isascii() and value.isdigit():
            return int(value)
    return None


def ldn_plmn(ldn: str) -> str | None:
    """The PLMN id a measObjLdn names (`PLMN=452-02`, `plmnId=45202`), else None."""
    for key, value in _rdns(ldn):
        if key.lower() in ("plmn", "plmnid", "plmnidentity"):
            return value
    return None


def parse_duration(text: str) -> float:
    """Seconds of an ISO 8601 duration (`PT900S`, `PT15M`, `PT1H`); ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        raise ValueError(f"granPeriod duration {text!r} is not an ISO 8601 duration like PT900S")
    days, hours, minutes, seconds = match.groups()
    return (int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60
            + float(seconds or 0))


def _time(text: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"time {text!r} is not an ISO 8601 date-time") from None
    if stamp.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return stamp


def _number(text: str) -> int | float | None:
    text = text.strip()
    if text in ("", "NIL"):
        return None
    if _NUMBER.fullmatch(text) is None:
        raise ValueError(f"result {text!r} is not a number (nor NIL)")
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else float(text)


class _Handler(xml.sax.handler.ContentHandler):
    """Builds PmValues while SAX reads; errors carry the locator's line."""

    def __init__(self) -> None:
        super().__init__()
        self.locator: Any = None
        self.stack: list[str] = []
        self.text: list[str] = []
        self.sender = ""
        self.begin: datetime | None = None
        self.end: datetime | None = None
        self.values: list[PmValue] = []
        self.info_end: datetime | None = None
        self.info_gran: float | None = None
        self.types: dict[str, str] = {}
        self.type_list: list[str] = []
        self.ldn = ""
        self.results: list[tuple[str, str, int]] = []  # (p or position, text, line)
        self.result_p = ""
        self.suspect = False
        self.value_line = 0
        self.root_seen = False

    def setDocumentLocator(self, locator: Any) -> None:
        self.locator = locator

    def line(self) -> int:
        return int(self.locator.getLineNumber()) if self.locator is not None else 0

    def startElementNS(self, name: tuple[str | None, str], qname: str | None,
                       attrs: Any) -> None:
        uri, local = name
        if not self.root_seen:
            self.root_seen = True
            if local != "measCollecFile" or uri != NAMESPACE:
                raise ValueError(f"the root element is {{{uri or ''}}}{local}, not a TS 32.435 "
                                 f"measCollecFile in namespace {NAMESPACE}")
        elif uri != NAMESPACE:
            raise ValueError(f"element {local} is in namespace {uri or '(none)'}, "
                             f"not {NAMESPACE}")
        get = {k[1]: v for k, v in attrs.items()}
        parent = self.stack[-1] if self.stack else ""
        self.stack.append(local)
        self.text = []
        if local == "fileSender":
            self.sender = get.get("localDn", "") or get.get("senderName", "")
        elif local == "measCollec" and parent == "fileHeader" and "beginTime" in get:
            self.begin = _time(get["beginTime"])
        elif local == "measCollec" and parent == "fileFooter" and "endTime" in get:
            self.end = _time(get["endTime"])
        elif local == "measInfo":
            self.info_end, self.info_gran, self.types, self.type_list = None, None, {}, []
        elif local == "granPeriod":
            self.info_gran = parse_duration(_required(get, "duration", local))
            self.info_end = _time(_required(get, "endTime", local))
        elif local == "measType":
            self.result_p = _required(get, "p", local)
        elif local == "measValue":
            self.ldn = _required(get, "measObjLdn", local)
            self.results, self.suspect, self.value_line = [], False, self.line()
        elif local == "r":
            self.result_p = _required(get, "p", local)

    def characters(self, content: str) -> None:
        self.text.append(content)

    def endElementNS(self, name: tuple[str | None, str], qname: str | None) -> None:
        local = name[1]
        text = "".join(self.text)
        self.text = []
        self.stack.pop()
        if local == "measType":
            self.types[self.result_p] = text.strip()
        elif local == "measTypes":
            self.type_list = text.split()
        elif local == "r":
            self.results.append((self.result_p, text, self.line()))
        elif local == "measResults":
            self.results += [(str(i), t, self.line()) for i, t in enumerate(text.split(), 1)]
        elif local == "suspect":
            if text.strip() not in ("true", "false"):
                raise ValueError(f"suspect is {text.strip()!r}, expected true or false")
            self.suspect = text.strip() == "true"
        elif local == "measValue":
            self._close_value()

    def _close_value(self) -> None:
        if self.info_gran is None or self.info_end is None:
            raise ValueError("measValue before its measInfo's granPeriod (duration, endTime)")
        names = self.types or {str(i): n for i, n in enumerate(self.type_list, 1)}
        for p, text, line in self.results:
            counter = names.get(p)
            if counter is None:
                raise _AtLine(f"result p={p} has no measType p={p} in its measInfo", line)
            try:
                value = _number(text)
            except ValueError as exc:
                raise _AtLine(f"{counter} of {self.ldn}: {exc}", line) from None
            self.values.append(PmValue(counter, self.ldn, value, self.info_end, self.info_gran,
                                       self.suspect, line))


class _AtLine(ValueError):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.at_line = line


def _required(attrs: dict[str, str], key: str, element: str) -> str:
    if key not in attrs:
        raise ValueError(f"{element} has no {key} attribute")
    return attrs[key]


def _inflate(data: bytes, name: str) -> bytes:
    """A gzip file's content, refused when truncated, corrupt or beyond MAX_XML_BYTES."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
            out = handle.read(MAX_XML_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise PmFileError(f"not a readable gzip file ({exc})", file=name) from None
    if len(out) > MAX_XML_BYTES:
        raise PmFileError(f"inflates beyond {MAX_XML_BYTES // 2**20} MiB: refused", file=name)
    return out


def parse_pm_bytes(data: bytes, name: str) -> PmFile:
    """Parse a PM file's bytes (gzip when they start with its magic); `name` is for errors."""
    if data[:2] == b"\x1f\x8b":
        data = _inflate(data, name)
    if len(data) > MAX_XML_BYTES:
        raise PmFileError(f"larger than {MAX_XML_BYTES // 2**20} MiB: refused", file=name)
    handler = _Handler()
    parser = defusedxml.sax.make_parser()
    parser.forbid_dtd = True  # no DTD at all: no XXE, no entity bombs, no external DTD
    parser.setFeature(xml.sax.handler.feature_namespaces, True)
    parser.setContentHandler(handler)
    try:
        parser.parse(io.BytesIO(data))
    except _AtLine as exc:
        raise PmFileError(str(exc), file=name, line=exc.at_line) from None
    except xml.sax.SAXParseException as exc:
        raise PmFileError(f"not well-formed XML: {exc.getMessage()} (truncated or damaged?)",
                          file=name, line=exc.getLineNumber()) from None
    except defusedxml.DTDForbidden:
        raise PmFileError("has a DTD (refused: a PM file needs none, and a DTD can carry "
                          "entity bombs or external references)", file=name,
                          line=handler.line() or None) from None
    except (defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden) as exc:
        raise PmFileError(f"declares entities or external references (refused: {exc})",
                          file=name, line=handler.line() or None) from None
    except ValueError as exc:
        raise PmFileError(str(exc), file=name, line=handler.line() or None) from None
    if not handler.root_seen:
        raise PmFileError("is empty", file=name)
    return PmFile(path=name, sender=handler.sender, begin=handler.begin,
                  end=handler.end or max((v.end for v in handler.values), default=None),
                  values=handler.values)


def parse_pm_file(path: Path) -> PmFile:
    """Parse a PM file on disk (PmFileError when unreadable or malformed)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PmFileError(f"cannot read: {exc.strerror}", file=str(path)) from None
    return parse_pm_bytes(data, str(path))


__all__ = ["MAX_XML_BYTES", "NAMESPACE", "PmFile", "PmFileError", "PmValue", "ldn_cell",
           "ldn_plmn", "parse_duration", "parse_pm_bytes", "parse_pm_file"]
