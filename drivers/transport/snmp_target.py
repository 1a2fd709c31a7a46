"""What the SNMP transport is configured with and what it reports: target settings, v3 user,
engine discovery result, and the error for replies that are malformed or lie."""

from __future__ import annotations

from dataclasses import dataclass

from harness.base.errors import CommandFailed
from harness.base.secrets import Secret

__all__ = ["EngineInfo", "MalformedReply", "SnmpTarget", "SnmpV3User"]


class MalformedReply(CommandFailed):
    """The device answered, but no reply was valid: undecodable, a value out of its type's
    range, or not answering the request (version, community, PDU, request-id, OIDs)."""


@dataclass(frozen=True)
class SnmpV3User:
    """SNMPv3 USM credentials; protocol names as net-snmp spells them (SHA-256, AES-128)."""

    user: str
    auth_protocol: str
    auth_key: Secret | None
    priv_protocol: str
    priv_key: Secret | None


@dataclass(frozen=True)
class SnmpTarget:
    """Where and how to reach one device's SNMP agent.

    `context` is the SNMPv3 contextName; `max_varbinds` caps the varbinds of one PDU (larger
    GETs are split); `max_in_flight` caps the PDUs outstanding to this device at once;
    `walk_timeout_s` bounds one walk's wall time.
    """

    host: str
    port: int = 161
    version: str = "2c"
    community: Secret | None = None
    v3: SnmpV3User | None = None
    timeout_s: float = 2.0
    retries: int = 1
    context: str = ""
    max_varbinds: int = 32
    max_in_flight: int = 4
    max_repetitions: int = 25
    walk_timeout_s: float = 300.0  # a walk that takes longer is stopped (with its count limit)


@dataclass(frozen=True)
class EngineInfo:
    """An agent's SNMPv3 engine id (hex), boots and engine time, from RFC 3414 discovery."""

    engine_id: str
    boots: int
    time: int
