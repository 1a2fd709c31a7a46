"""Device facts and KPI values from hostile bytes: no crash, no bogus fact, a clear error.

The old code crashed `harness devices` on a 1000-byte INTEGER sysUpTime (OverflowError in the
division to seconds), on an uptime text of blanks (IndexError) and on a superscript digit
(ValueError).
"""

from __future__ import annotations

import pytest

from drivers.gnb import Gnb, fact_texts, kpi_value, uptime_seconds
from drivers.profile import load_profile
from drivers.transport.snmp_values import NoSuchValue
from harness.base.errors import CommandFailed, HarnessError
from tests.test_snmp_hostile import DEVICE, GET_MODES, against, run, with_value


@pytest.mark.parametrize(("ticks", "text", "seconds"), [
    (2**8000, "", None), (-5, "", None), (2**64, "", None), (123456, "", 1234.56),
    (None, "   ", None), (None, "²", None), (None, "1e999", None), (None, "١٢", None),
    (None, "12.5 s", 12.5), ("not ticks", "", None),
])
def test_uptime_from_hostile_values(ticks: object, text: str, seconds: float | None) -> None:
    assert uptime_seconds(ticks, text) == seconds  # type: ignore[arg-type]
    facts = Gnb.make_facts({"uptime": text}, ticks)  # type: ignore[arg-type]
    assert facts.uptime_s == seconds


def test_fact_texts_cut_and_blank_hostile_values() -> None:
    texts = fact_texts({"firmware": "x" * 5000, "serial": 2**100, "model": NoSuchValue("null"),
                        "vendor": "acme"})
    assert texts["firmware"] == "x" * 1024 + "…"
    assert texts["serial"] == "" and texts["model"] == "" and texts["vendor"] == "acme"


@pytest.mark.parametrize(("kind", "value", "ok"), [
    ("counter32", 2**32 - 1, True), ("counter32", 2**32, False), ("counter32", -1, False),
    ("counter64", 2**64 - 1, True), ("counter64", 2**64, False), ("gauge", -40, True),
])
def test_kpi_values_out_of_their_kind_are_refused(kind: str, value: int, ok: bool) -> None:
    if ok:
        assert kpi_value("gnb1", "DRB.UEThpDl", kind, value) == value
    else:
        with pytest.raises(CommandFailed, match=r"gnb1: KPI DRB\.UEThpDl: device sent a malformed"):
            kpi_value("gnb1", "DRB.UEThpDl", kind, value)


@pytest.mark.parametrize("mode", ["INTEGER of 1000 bytes", "OIDs not asked for",
                                  "Counter32 2^70", "wrong community"])
def test_gnb_facts_from_a_hostile_agent_fail_cleanly(mode: str) -> None:
    profile = load_profile("sim-gnb")

    async def facts(transport: object) -> object:
        return await Gnb(DEVICE, profile, snmp=transport, ssh=None).facts()  # type: ignore[arg-type]

    outcome, _ = run(against(GET_MODES[mode], facts))
    assert isinstance(outcome, HarnessError), outcome
    assert DEVICE in str(outcome) and "malformed reply" in str(outcome)


def test_gnb_facts_from_an_honest_agent() -> None:
    profile = load_profile("sim-gnb")

    async def facts(transport: object) -> object:
        return await Gnb(DEVICE, profile, snmp=transport, ssh=None).facts()  # type: ignore[arg-type]

    outcome, _ = run(against(with_value(b"\x43\x02\x01\x00"), facts))
    assert getattr(outcome, "uptime_s", None) == 2.56
