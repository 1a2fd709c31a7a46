"""The simulator's SNMP agent, checked with real net-snmp CLI tools and with SnmpTransport."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from drivers.transport.snmp import NoSuchValue, SnmpTarget, SnmpTransport, SnmpV3User
from harness.base.errors import CommandFailed, DeviceUnreachable, HarnessError
from harness.base.secrets import Secret
from harness.simlab.snmp_agent import AgentCredentials, MibValue, SnmpAgent
from tests.conftest import free_port, require_tool

T = TypeVar("T")
CREDS = AgentCredentials(community="sim-community", v3_user="harness",
                         auth_key="sim-auth-key-1", priv_key="sim-priv-key-1")
ENT = (1, 3, 6, 1, 4, 1, 32473)
ENT_TEXT = "1.3.6.1.4.1.32473"
BIG = 2**40 + 123


def oid(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


class LiveMib:
    """A provider whose counter moves on every snapshot, like a PM counter."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.extra: dict[tuple[int, ...], MibValue] = {}

    def __call__(self) -> Mapping[tuple[int, ...], MibValue]:
        if self.fail:
            raise RuntimeError("simulated provider fault")
        self.calls += 1
        mib: dict[tuple[int, ...], MibValue] = {
            (1, 3, 6, 1, 2, 1, 1, 1, 0): ("OctetString", "Simulated gNodeB"),
            (1, 3, 6, 1, 2, 1, 1, 2, 0): ("ObjectIdentifier", ENT_TEXT + ".1"),
            (1, 3, 6, 1, 2, 1, 1, 3, 0): ("TimeTicks", 100 * self.calls),
            (1, 3, 6, 1, 2, 1, 1, 5, 0): ("OctetString", "gnb1"),
            (*ENT, 1, 1, 0): ("Counter32", 1000 * self.calls),
            (*ENT, 1, 2, 0): ("Counter64", BIG),
            (*ENT, 1, 9, 0): ("Gauge32", 42),
            (*ENT, 1, 10, 0): ("Integer", -7),  # after .9 numerically, before it as text
            (*ENT, 2, 1, 0): ("OctetString", "next subtree"),
            (1, 3, 6, 1, 6, 3, 1, 0): ("Integer", 1),
        }
        mib.update(self.extra)
        return mib


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@asynccontextmanager
async def agent_running(mib: LiveMib) -> AsyncIterator[SnmpAgent]:
    agent = SnmpAgent(host="127.0.0.1", port=free_port(socket.SOCK_DGRAM),
                      credentials=CREDS, provider=mib)
    await agent.start()
    try:
        yield agent
    finally:
        await agent.stop()


async def cli(tmp: Path, tool: str, *args: str) -> tuple[int, str]:
    """Run a net-snmp CLI tool without blocking the agent's loop; numeric OIDs, no MIBs."""
    path = require_tool(tool)
    env = dict(os.environ, MIBS="", SNMP_PERSISTENT_DIR=str(tmp), SNMPCONFPATH=str(tmp))
    proc = await asyncio.create_subprocess_exec(
        path, "-On", "-t", "1", "-r", "0", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 15)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode()


def v2c_args(agent: SnmpAgent, community: str = CREDS.community) -> list[str]:
    return ["-v2c", "-c", community, f"127.0.0.1:{agent.port}"]


def v3_args(agent: SnmpAgent) -> list[str]:
    return ["-v3", "-l", "authPriv", "-u", CREDS.v3_user, "-a", "SHA-256", "-A",
            CREDS.auth_key, "-x", "AES", "-X", CREDS.priv_key, f"127.0.0.1:{agent.port}"]


def transport(agent: SnmpAgent, version: str = "2c", **kw: Any) -> SnmpTransport:
    if version == "3":
        user = SnmpV3User(CREDS.v3_user, "SHA-256", Secret(CREDS.auth_key),
                          "AES-128", Secret(CREDS.priv_key))
        return SnmpTransport(SnmpTarget("127.0.0.1", agent.port, "3", v3=user, **kw),
                             device="sim-gnb1")
    target = SnmpTarget("127.0.0.1", agent.port, "2c",
                        community=Secret(kw.pop("community", CREDS.community)), **kw)
    return SnmpTransport(target, device="sim-gnb1")


EXPECTED_ENT_WALK = [f"{ENT_TEXT}.1.1.0", f"{ENT_TEXT}.1.2.0", f"{ENT_TEXT}.1.9.0",
                     f"{ENT_TEXT}.1.10.0"]


def walked_oids(output: str) -> list[str]:
    return [line.split(" = ")[0].lstrip(".") for line in output.splitlines() if " = " in line]


def test_cli_get_walk_bulkwalk_v2c(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with agent_running(LiveMib()) as agent:
            rc, out = await cli(tmp_path, "snmpget", *v2c_args(agent), "1.3.6.1.2.1.1.1.0",
                                f"{ENT_TEXT}.1.2.0", "1.3.6.1.2.1.1.2.0")
            assert rc == 0, out
            assert 'STRING: "Simulated gNodeB"' in out
            assert f"Counter64: {BIG}" in out
            assert f"OID: .{ENT_TEXT}.1" in out
            rc, out = await cli(tmp_path, "snmpwalk", *v2c_args(agent), f"{ENT_TEXT}.1")
            assert rc == 0, out
            assert walked_oids(out) == EXPECTED_ENT_WALK  # numeric order, stops at subtree end
            assert "INTEGER: -7" in out and "Gauge32: 42" in out
            for reps in ("-Cr1", "-Cr3", "-Cr25"):
                rc, out = await cli(tmp_path, "snmpbulkwalk", reps, *v2c_args(agent),
                                    f"{ENT_TEXT}.1")
                assert rc == 0, out
                assert walked_oids(out) == EXPECTED_ENT_WALK

    run(scenario())


def test_cli_walk_to_end_of_mib_ends_cleanly(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with agent_running(LiveMib()) as agent:
            rc, out = await cli(tmp_path, "snmpbulkwalk", *v2c_args(agent), "1.3.6.1")
            assert rc == 0, out
            values = [line for line in out.splitlines() if "No more variables" not in line]
            oids = walked_oids("\n".join(values))
            assert oids == sorted(oids, key=oid) and len(oids) == 10
            assert oids[0] == "1.3.6.1.2.1.1.1.0" and oids[-1] == "1.3.6.1.6.3.1.0"
            assert out.count("No more variables") <= 1  # GETBULK stops at endOfMibView

    run(scenario())


def test_cli_get_v3_authpriv_and_missing_oid(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with agent_running(LiveMib()) as agent:
            rc, out = await cli(tmp_path, "snmpget", *v3_args(agent), "1.3.6.1.2.1.1.5.0",
                                "1.3.6.1.2.1.1.5.1", "1.3.6.1.2.1.9.0")
            assert rc == 0, out
            assert 'STRING: "gnb1"' in out
            assert "1.3.6.1.2.1.1.5.1 = No Such Instance" in out
            assert "1.3.6.1.2.1.9.0 = No Such Object" in out
            rc, out = await cli(tmp_path, "snmpset", *v3_args(agent), "1.3.6.1.2.1.1.5.0",
                                "s", "renamed")
            assert rc != 0 and "notWritable" in out  # read-only agent refuses, promptly

    run(scenario())


def test_cli_wrong_community_gets_no_answer(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with agent_running(LiveMib()) as agent:
            rc, out = await cli(tmp_path, "snmpget", *v2c_args(agent, "wrong"), "1.3.6.1.2.1.1.5.0")
            assert rc != 0 and "Timeout" in out

    run(scenario())


def test_transport_get_walk_v2c_and_v3() -> None:
    async def scenario() -> None:
        async with agent_running(LiveMib()) as agent:
            for version in ("2c", "3"):
                client = transport(agent, version)
                try:
                    got = await client.get(["1.3.6.1.2.1.1.5.0", f"{ENT_TEXT}.1.2.0",
                                            "1.3.6.1.2.1.1.2.0", f"{ENT_TEXT}.1.99.0"])
                    assert got["1.3.6.1.2.1.1.5.0"] == "gnb1"
                    assert got[f"{ENT_TEXT}.1.2.0"] == BIG  # Counter64 above 2**32 intact
                    assert got["1.3.6.1.2.1.1.2.0"] == ENT_TEXT + ".1"
                    assert got[f"{ENT_TEXT}.1.99.0"] == NoSuchValue("noSuchObject")
                    for reps in (1, 2, 25):
                        walked = await client.walk(f"{ENT_TEXT}.1", max_repetitions=reps)
                        assert list(walked) == EXPECTED_ENT_WALK
                        assert walked[f"{ENT_TEXT}.1.10.0"] == -7
                    everything = await client.walk("1.3.6.1")
                    assert len(everything) == 10
                    assert list(everything)[-1] == "1.3.6.1.6.3.1.0"
                finally:
                    await client.close()

    run(scenario())


def test_values_are_computed_live_per_request() -> None:
    mib = LiveMib()

    async def scenario() -> None:
        async with agent_running(mib) as agent:
            client = transport(agent)
            try:
                first = await client.get([f"{ENT_TEXT}.1.1.0"])
                second = await client.get([f"{ENT_TEXT}.1.1.0"])
                assert isinstance(first[f"{ENT_TEXT}.1.1.0"], int)
                assert second[f"{ENT_TEXT}.1.1.0"] > first[f"{ENT_TEXT}.1.1.0"]
                mib.extra[(*ENT, 1, 5, 0)] = ("OctetString", "added at runtime")
                walked = await client.walk(f"{ENT_TEXT}.1")
                assert walked[f"{ENT_TEXT}.1.5.0"] == "added at runtime"
                assert list(walked).index(f"{ENT_TEXT}.1.5.0") == 2  # sorted cache rebuilt
            finally:
                await client.close()

    run(scenario())


def test_silent_agent_times_out_then_recovers() -> None:
    async def scenario() -> None:
        async with agent_running(LiveMib()) as agent:
            client = transport(agent, timeout_s=0.3, retries=0)
            try:
                agent.silent = True
                seen = agent.requests_seen
                started = time.monotonic()
                with pytest.raises(DeviceUnreachable, match="sim-gnb1"):
                    await client.get(["1.3.6.1.2.1.1.5.0"])
                assert time.monotonic() - started < 2
                assert agent.requests_seen > seen  # received, just not answered
                agent.silent = False
                assert await client.get(["1.3.6.1.2.1.1.5.0"]) == {"1.3.6.1.2.1.1.5.0": "gnb1"}
            finally:
                await client.close()

    run(scenario())


def test_wrong_community_via_transport_is_unreachable() -> None:
    async def scenario() -> None:
        async with agent_running(LiveMib()) as agent:
            client = transport(agent, community="wrong", timeout_s=0.3, retries=0)
            try:
                with pytest.raises(DeviceUnreachable, match="community"):
                    await client.get(["1.3.6.1.2.1.1.5.0"])
            finally:
                await client.close()

    run(scenario())


def test_provider_fault_and_bad_value_answer_generr() -> None:
    mib = LiveMib()

    async def scenario() -> None:
        async with agent_running(mib) as agent:
            client = transport(agent, timeout_s=1.0, retries=0)
            try:
                mib.extra[(*ENT, 3, 0)] = ("Float", 1)
                with pytest.raises(CommandFailed, match=rf"genErr.*{ENT_TEXT}\.3\.0"):
                    await client.get(["1.3.6.1.2.1.1.5.0", f"{ENT_TEXT}.3.0"])
                mib.extra.clear()
                mib.fail = True
                with pytest.raises(CommandFailed, match="genErr"):
                    await client.get(["1.3.6.1.2.1.1.5.0"])
                mib.fail = False
                assert await client.get(["1.3.6.1.2.1.1.5.0"]) == {"1.3.6.1.2.1.1.5.0": "gnb1"}
            finally:
                await client.close()

    run(scenario())


def test_port_in_use_is_a_clear_error_and_stop_frees_the_port() -> None:
    async def scenario() -> None:
        async with agent_running(LiveMib()) as agent:
            twin = SnmpAgent(host="127.0.0.1", port=agent.port, credentials=CREDS,
                             provider=LiveMib())
            with pytest.raises(HarnessError, match="another port"):
                await twin.start()
            port = agent.port
        again = SnmpAgent(host="127.0.0.1", port=port, credentials=CREDS, provider=LiveMib())
        await again.start()
        await again.stop()

    run(scenario())
