"""The virtual core's vendor-like command line, as served over SSH (read-only show commands)."""

from __future__ import annotations

from harness.simlab.cli_shell import DeviceCli, invalid, version_text
from harness.simlab.core import VirtualCore

HELP = """Commands:
  show version
  show ue
  show pdu-sessions
  show slices
  show upf
"""


class CoreCli(DeviceCli):
    """Interprets one command line against a VirtualCore; returns (output, exit status)."""

    def __init__(self, core: VirtualCore) -> None:
        self.core = core

    def dispatch(self, words: list[str]) -> str:
        """The output of one show command."""
        match words:
            case ["help"] | ["?"]:
                return HELP
            case ["show", "version"]:
                return version_text(self.core.identity, self.core.uptime_ticks(),
                                    "AMF, SMF, UPF")
            case ["show", "ue"] | ["show", "ues"]:
                return self._ues()
            case ["show", "pdu-sessions"] | ["show", "pdu-session"]:
                return self._sessions()
            case ["show", "slices"] | ["show", "slice"]:
                return self._slices()
            case ["show", "upf"]:
                return self._upf()
        raise invalid(words)

    def _ues(self) -> str:
        lines = [f"{'SUPI':<21} {'PLMN':<7} {'S-NSSAI':<9} {'State':<13} gNodeB"]
        with self.core.lock:
            ues = list(self.core.ues)
            registered = self.core.registered()
            for ue in ues:
                state = "REGISTERED" if ue.registered else "DEREGISTERED"
                lines.append(f"{ue.supi:<21} {ue.plmn:<7} {ue.snssai:<9} {state:<13} "
                             f"{ue.gnb or '-'}")
        lines.append(f"Registered: {registered} of {len(ues)}")
        return "\n".join(lines) + "\n"

    def _sessions(self) -> str:
        lines = [f"{'SUPI':<21} {'PSI':<4} {'S-NSSAI':<9} {'DNN':<10} {'UE address':<15} "
                 f"{'gNodeB':<10} UL TEID"]
        with self.core.lock:
            for ue in self.core.ues:
                if ue.session_id is None:
                    continue
                lines.append(f"{ue.supi:<21} {ue.session_id:<4} {ue.snssai:<9} "
                             f"{self.core.plan.dnn:<10} {ue.address:<15} {ue.gnb or '-':<10} "
                             f"0x{ue.teid:08x}")
            count = self.core.sessions()
        lines.append(f"PDU sessions: {count}")
        return "\n".join(lines) + "\n"

    def _slices(self) -> str:
        lines = [f"{'PLMN':<7} {'S-NSSAI':<9} {'Subscribers':>11} {'Registered':>11} "
                 f"{'Sessions':>9}"]
        with self.core.lock:
            rows = self.core.slice_rows()
        for row in rows:
            lines.append(f"{row.plmn:<7} {row.snssai:<9} {row.subscribers:>11} "
                         f"{row.registered:>11} {row.sessions:>9}")
        return "\n".join(lines) + "\n"

    def _upf(self) -> str:
        lines = ["N3 GTP-U counters (In = uplink from the gNodeB, Out = downlink to it)",
                 f"{'Peer':<12} {'Address':<16} {'InDataPkt':>12} {'InDataOct':>16} "
                 f"{'OutDataPkt':>12} {'OutDataOct':>16}"]
        peers = self.core.n3_peers()
        total = self.core.n3_totals()
        for p in [*peers, total]:
            lines.append(f"{p.name:<12} {p.address or '-':<16} {p.in_packets:>12} "
                         f"{p.in_octets:>16} {p.out_packets:>12} {p.out_octets:>16}")
        return "\n".join(lines) + "\n"
