"""SNMP transport: GET, GETNEXT, GETBULK, walks, table walks and SET, errors as exceptions.

The public face of `drivers/transport/`: everything above it speaks numeric OIDs and plain
Python values. v1/v2c requests go through our own BER codec and UDP socket (`snmp_session`),
v3 through pysnmp's USM engine (`snmp_usm`). One session per device, reused for every request;
large requests are split into PDUs of `max_varbinds`, and at most `max_in_flight` PDUs per
device are outstanding at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from drivers.transport import snmp_ber as ber
from drivers.transport.snmp_session import (
    BadAddress,
    CommunitySession,
    Denied,
    Malformed,
    NoAnswer,
    Refused,
    Reply,
    Session,
    SessionError,
    probe_engine,
)
from drivers.transport.snmp_target import EngineInfo, MalformedReply, SnmpTarget, SnmpV3User
from drivers.transport.snmp_usm import (
    AUTH_PROTOCOLS,
    PRIV_PROTOCOLS,
    UsmSession,
    usm_credentials,
)
from drivers.transport.snmp_values import (
    NoSuchValue,
    SetValue,
    SnmpValue,
    convert_value,
    norm_oid,
    oid_text,
    oid_tuple,
)
from harness.base.errors import AuthFailed, CommandFailed, ConfigError, DeviceUnreachable

__all__ = [
    "AUTH_PROTOCOLS",
    "PRIV_PROTOCOLS",
    "EngineInfo",
    "MalformedReply",
    "NoSuchValue",
    "SetValue",
    "SnmpTarget",
    "SnmpTransport",
    "SnmpV3User",
    "SnmpValue",
    "convert_value",
]

_MAX_WALK_VARBINDS = 1_000_000  # guard against an agent that never ends a subtree
_ERROR_STATUS = ("noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr",
                 "noAccess", "wrongType", "wrongLength", "wrongEncoding", "wrongValue",
                 "noCreation", "inconsistentValue", "resourceUnavailable", "commitFailed",
                 "undoFailed", "authorizationError", "notWritable", "inconsistentName")
_TOO_BIG, _NO_SUCH_NAME, _NO_ACCESS, _AUTHORIZATION = 1, 2, 6, 16
Oid = tuple[int, ...]


class SnmpTransport:
    """One SNMP session per device, reused for all requests; MIB lookups never happen here."""

    def __init__(self, target: SnmpTarget, *, device: str) -> None:
        self._target = target
        self._device = device
        self._log = logging.LoggerAdapter(logging.getLogger(__name__), {"device": device})
        if target.max_varbinds < 1 or target.max_in_flight < 1 or target.max_repetitions < 1:
            raise ConfigError(f"device {device}: max_varbinds, max_in_flight and "
                              "max_repetitions must be at least 1")
        self._session: Session = self._build_session(target)  # validates settings now
        self._slots = asyncio.Semaphore(target.max_in_flight)
        self._closed = False

    @property
    def target(self) -> SnmpTarget:
        """The settings this transport was built from (secrets stay hidden in its repr)."""
        return self._target

    # ---- configuration -------------------------------------------------------------
    def _build_session(self, target: SnmpTarget) -> Session:
        common: dict[str, Any] = {"timeout_s": target.timeout_s, "retries": target.retries}
        if target.version in ("1", "2c"):
            if target.community is None:
                raise ConfigError(
                    f"device {self._device}: SNMP v{target.version} needs a community "
                    "(set snmp.community, e.g. \"${env:SNMP_COMMUNITY}\")"
                )
            return CommunitySession(target.host, target.port,
                                    version=0 if target.version == "1" else 1,
                                    community=target.community.reveal(), **common)
        if target.version != "3":
            raise ConfigError(
                f"device {self._device}: SNMP version {target.version!r} is not supported: "
                "use \"1\", \"2c\" or \"3\""
            )
        user = target.v3
        if user is None:
            raise ConfigError(
                f"device {self._device}: SNMP v3 needs a user (snmp.user, snmp.auth, snmp.priv)"
            )
        creds = usm_credentials(user, self._device)
        return UsmSession(target.host, target.port, credentials=creds,
                          context=target.context, **common)

    def _where(self) -> str:
        t = self._target
        return f"device {self._device} ({t.host}:{t.port}, SNMP v{t.version})"

    # ---- error mapping -------------------------------------------------------------
    def _raise_session(self, exc: SessionError) -> NoReturn:
        t = self._target
        if isinstance(exc, NoAnswer):
            hint = "check address, port, firewall and the community string"
            if t.version == "3":
                hint = ("check address, port, firewall and the v3 credentials "
                        "(a wrong privacy key or an unknown context also shows as a timeout)")
            raise DeviceUnreachable(
                f"{self._where()}: no SNMP response within {t.timeout_s:g}s "
                f"x {t.retries + 1} tries: {hint}"
            ) from None
        if isinstance(exc, Refused):
            raise DeviceUnreachable(
                f"{self._where()}: nothing listens on UDP port {t.port} ({exc}): "
                "check the port in lab.yaml and that the SNMP agent runs"
            ) from None
        if isinstance(exc, BadAddress):
            raise DeviceUnreachable(
                f"{self._where()}: cannot resolve address {t.host!r} ({exc}): "
                "check the host name in lab.yaml"
            ) from None
        if isinstance(exc, Malformed):
            raise MalformedReply(
                f"{self._where()}: device sent a malformed reply: {exc}: the agent is broken "
                "or something else answers on its address (nothing it sent was recorded)"
            ) from None
        if isinstance(exc, Denied):
            raise AuthFailed(
                f"{self._where()}: agent refused the credentials ({exc}): "
                "check the v3 user name, auth protocol/key, priv protocol/key and context "
                "against the device's USM configuration"
            ) from None
        raise CommandFailed(f"{self._where()}: SNMP request failed: {exc}") from None

    def _raise_status(self, reply: Reply, oids: Sequence[Oid], what: str) -> NoReturn:
        status, idx = reply.error_status, reply.error_index
        name = _ERROR_STATUS[status] if 0 <= status < len(_ERROR_STATUS) else f"error {status}"
        oid = oid_text(oids[idx - 1]) if 0 < idx <= len(oids) else "(whole request)"
        if what == "set" and status in (_NO_ACCESS, _AUTHORIZATION):
            raise AuthFailed(
                f"{self._where()}: agent answered {name} to SET {oid}: these credentials "
                "may read but not write it: use a write community (rwcommunity) or a v3 "
                "user with write access"
            )
        raise CommandFailed(
            f"{self._where()}: agent answered {name} to {what.upper()} {oid}: "
            "check that the OID is right for this model and accessible to these credentials"
        )

    # ---- requests ------------------------------------------------------------------
    async def _call(self, pdu: int, varbinds: Sequence[tuple[Oid, SetValue | None]], *,
                    non_repeaters: int = 0, max_repetitions: int = 0) -> Reply:
        if self._closed:
            raise DeviceUnreachable(f"{self._where()}: SNMP transport already closed")
        async with self._slots:
            try:
                return await self._session.request(pdu, varbinds, non_repeaters=non_repeaters,
                                                   max_repetitions=max_repetitions)
            except SessionError as exc:
                self._raise_session(exc)

    async def _get_chunk(self, oids: list[Oid], out: dict[Oid, SnmpValue]) -> None:
        """GET one PDU's worth; v1 noSuchName drops that OID and asks again; tooBig splits."""
        pending = list(oids)
        for _ in range(len(oids) + 1):
            if not pending:
                return
            reply = await self._call(ber.GET, [(o, None) for o in pending])
            status = reply.error_status
            if status == _NO_SUCH_NAME and 0 < reply.error_index <= len(pending):
                out[pending.pop(reply.error_index - 1)] = NoSuchValue("noSuchName")
                continue
            if status == _TOO_BIG and len(pending) > 1:
                half = len(pending) // 2
                await asyncio.gather(self._get_chunk(pending[:half], out),
                                     self._get_chunk(pending[half:], out))
                return
            if status:
                self._raise_status(reply, pending, "get")
            for oid, (_name, value) in zip(pending, reply.varbinds, strict=True):
                out[oid] = value  # names checked equal to `pending`, in order
            return

    async def get(self, oids: Sequence[str]) -> dict[str, SnmpValue]:
        """GET many OIDs, `max_varbinds` per PDU, PDUs concurrently; keys are the requested
        dotted OIDs (no leading dot), in request order. Missing values are `NoSuchValue`."""
        wanted = [norm_oid(o) for o in oids]
        unique = list(dict.fromkeys(oid_tuple(o) for o in wanted))
        size = self._target.max_varbinds
        out: dict[Oid, SnmpValue] = {}
        chunks = [unique[i:i + size] for i in range(0, len(unique), size)]
        if len(chunks) == 1:
            await self._get_chunk(chunks[0], out)
        else:
            await asyncio.gather(*(self._get_chunk(c, out) for c in chunks))
        return {text: out[oid_tuple(text)] for text in wanted}

    async def get_next(self, oids: Sequence[str]) -> dict[str, tuple[str, SnmpValue]]:
        """GETNEXT: for each requested OID, the next OID in the agent's MIB and its value
        (`NoSuchValue('endOfMibView')` past the end)."""
        wanted = [oid_tuple(norm_oid(o)) for o in oids]
        reply = await self._call(ber.NEXT, [(o, None) for o in wanted])
        if reply.error_status == _NO_SUCH_NAME and self._target.version == "1":
            return {oid_text(o): (oid_text(o), NoSuchValue("endOfMibView")) for o in wanted}
        if reply.error_status:
            self._raise_status(reply, wanted, "getnext")
        return {oid_text(o): (oid_text(name), value)
                for o, (name, value) in zip(wanted, reply.varbinds, strict=True)}

    async def bulk(self, oids: Sequence[str], non_repeaters: int = 0,
                   max_repetitions: int | None = None) -> list[tuple[str, SnmpValue]]:
        """One GETBULK PDU (v2c/v3): the agent's varbinds in order, as (OID, value)."""
        if self._target.version == "1":
            raise ConfigError(f"{self._where()}: GETBULK needs SNMP v2c or v3")
        wanted = [oid_tuple(norm_oid(o)) for o in oids]
        reps = self._target.max_repetitions if max_repetitions is None else max_repetitions
        reply = await self._call(ber.BULK, [(o, None) for o in wanted],
                                 non_repeaters=max(0, non_repeaters),
                                 max_repetitions=max(0, reps))
        if reply.error_status:
            self._raise_status(reply, wanted, "getbulk")
        return [(oid_text(name), value) for name, value in reply.varbinds]

    async def walk(self, oid: str, *, max_repetitions: int | None = None
                   ) -> dict[str, SnmpValue]:
        """All OIDs under `oid` in order: GETBULK (GETNEXT for v1), stopping at the subtree end."""
        table = await self.walk_columns([oid], max_repetitions=max_repetitions)
        root = norm_oid(oid)
        return {f"{root}.{suffix}": value for suffix, value in table[root].items()}

    async def walk_columns(self, columns: Sequence[str], *, max_repetitions: int | None = None
                           ) -> dict[str, dict[str, SnmpValue]]:
        """Walk several subtrees (table columns) together, several per GETBULK PDU.

        Returns {column OID: {index suffix: value}}; with table columns, the suffixes are the
        row indexes. `max_repetitions` is per PDU and shared among the columns still walking.
        """
        roots = [oid_tuple(norm_oid(c)) for c in dict.fromkeys(columns)]
        out: dict[Oid, dict[str, SnmpValue]] = {r: {} for r in roots}
        cursors: dict[Oid, Oid] = {r: r for r in roots}
        reps = self._target.max_repetitions if max_repetitions is None else max_repetitions
        count = 0
        deadline = time.monotonic() + self._target.walk_timeout_s
        while cursors and count < _MAX_WALK_VARBINDS:
            if time.monotonic() > deadline:
                raise CommandFailed(
                    f"{self._where()}: walk of {', '.join(map(oid_text, roots))} still "
                    f"running after {self._target.walk_timeout_s:g}s ({count} values): the "
                    "agent never ends the subtree, or it is too large: narrow it")
            active = list(cursors)[: self._target.max_varbinds]
            step = [cursors[r] for r in active]
            if self._target.version == "1":
                reply = await self._call(ber.NEXT, [(c, None) for c in step])
                if reply.error_status == _NO_SUCH_NAME:  # v1 end of MIB view at that column
                    idx = reply.error_index
                    cursors.pop(active[idx - 1] if 0 < idx <= len(active) else active[0])
                    continue
            else:
                reply = await self._call(ber.BULK, [(c, None) for c in step],
                                         max_repetitions=max(1, reps // len(active)))
            if reply.error_status:
                self._raise_status(reply, step, "walk")
            if not reply.varbinds:  # an agent with nothing more to say
                cursors.clear()
                break
            count += self._absorb(active, reply.varbinds, cursors, out)
        if cursors:
            raise CommandFailed(f"{self._where()}: walk returned more than "
                                f"{_MAX_WALK_VARBINDS} values: narrow the subtree")
        return {oid_text(r): rows for r, rows in out.items()}

    def _absorb(self, active: list[Oid], varbinds: list[tuple[Oid, SnmpValue]],
                cursors: dict[Oid, Oid], out: dict[Oid, dict[str, SnmpValue]]) -> int:
        """File a GETBULK/GETNEXT answer (row-major over `active`) under its columns."""
        width = len(active)
        done: set[Oid] = set()
        for i, (name, value) in enumerate(varbinds):
            root = active[i % width]
            if root in done:
                continue
            cursor = cursors[root]
            if (isinstance(value, NoSuchValue) and value.reason == "endOfMibView") \
                    or name[: len(root)] != root:
                done.add(root)
                continue
            if name <= cursor:
                raise CommandFailed(
                    f"{self._where()}: agent returned OIDs out of order while walking "
                    f"{oid_text(root)} ({oid_text(name)} after {oid_text(cursor)}): "
                    "the agent's MIB is broken"
                )
            cursors[root] = name
            out[root][oid_text(name[len(root):])] = value
        for root in done:
            cursors.pop(root, None)
        return len(varbinds)

    async def walk_typed(self, oid: str) -> list[tuple[str, int, SnmpValue]]:
        """All OIDs under `oid` with each value's BER tag (for recordings): (OID, tag, value)."""
        root = oid_tuple(norm_oid(oid))
        cursor, out = root, list[tuple[str, int, SnmpValue]]()
        deadline = time.monotonic() + self._target.walk_timeout_s
        while True:
            if len(out) >= _MAX_WALK_VARBINDS or time.monotonic() > deadline:
                raise CommandFailed(f"{self._where()}: walk of {oid_text(root)} still running "
                                    f"after {len(out)} values: narrow the subtree")
            v1 = self._target.version == "1"
            reply = await self._call(ber.NEXT if v1 else ber.BULK, [(cursor, None)],
                                     max_repetitions=0 if v1 else self._target.max_repetitions)
            if reply.error_status == _NO_SUCH_NAME and v1:
                return out
            if reply.error_status:
                self._raise_status(reply, [cursor], "walk")
            for (name, value), tag in zip(reply.varbinds, reply.tags, strict=True):
                if name[: len(root)] != root or tag == 0x82:  # left the subtree, endOfMibView
                    return out
                if name <= cursor:
                    raise CommandFailed(f"{self._where()}: agent returned OIDs out of order "
                                        f"while walking {oid_text(root)}")
                cursor = name
                out.append((oid_text(name), tag, value))
            if not reply.varbinds:
                return out

    async def set(self, values: Mapping[str, SetValue] | Sequence[tuple[str, SetValue]]
                  ) -> dict[str, SnmpValue]:
        """SET typed values in one PDU (atomic on the agent); returns what the agent echoed."""
        items = list(values.items()) if isinstance(values, Mapping) else list(values)
        if not items:
            return {}
        binds = [(oid_tuple(norm_oid(o)), v) for o, v in items]
        reply = await self._call(ber.SET, binds)
        if reply.error_status:
            self._raise_status(reply, [o for o, _ in binds], "set")
        return {oid_text(name): value for name, value in reply.varbinds}

    async def discover_engine(self) -> EngineInfo:
        """Ask the agent for its SNMPv3 engine id, boots and time (works without credentials)."""
        if self._closed:
            raise DeviceUnreachable(f"{self._where()}: SNMP transport already closed")
        t = self._target
        try:
            probe = await probe_engine(t.host, t.port, timeout_s=t.timeout_s, retries=t.retries)
        except ber.BerError as exc:
            problem = (f"{self._where()}: device sent a malformed reply to SNMPv3 engine "
                       f"discovery ({exc}): the agent may be v1/v2c only")
            raise MalformedReply(problem) from None
        except SessionError as exc:
            self._raise_session(exc)
        return EngineInfo(probe.engine_id.hex(), probe.boots, probe.time)

    @property
    def rejected_replies(self) -> int:
        """Replies dropped so far as malformed or not answering their request."""
        return self._session.rejected

    async def close(self) -> None:
        """Release the session's socket; further requests raise DeviceUnreachable."""
        if self._closed:
            return
        self._closed = True
        self._session.close()
