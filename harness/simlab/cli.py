"""The virtual gNodeB's vendor-like command line, as served over SSH."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from harness.base.errors import ConfigError
from harness.base.nr_peak import MODULATION_ORDER
from harness.simlab.cli_shell import CliError, DeviceCli, invalid, version_text
from harness.simlab.gnb import CellConfig, VirtualGnb
from harness.simlab.mgmt import CommandError
from harness.simlab.mgmt_cli import HELP as MGMT_HELP
from harness.simlab.mgmt_cli import dispatch as mgmt_dispatch

HELP = """Commands:
  show version
  show cell [ID]
  set cell ID bandwidth MHZ
  set cell ID scs KHZ
  set cell ID layers dl|ul N
  set cell ID modulation dl|ul qpsk|16qam|64qam|256qam
  set cell ID tdd PATTERN [D:G:U]
  set cell ID special D:G:U
  set cell ID admin up|down
  set cell ID pci N
  set cell ID band nNN
  set cell ID arfcn N
  set cell ID tx-power DBM
  set cell ID quality F            channel-quality factor 0..1 (multiplies the capacity)
  set cell ID bler F               HARQ block error rate 0..<1
  set cell ID loss F               random packet loss 0..1
  set cell ID delay MS             one-way core/transport delay
  set cell ID jitter MS            ± jitter on the core delay
  set cell ID plmn-share PLMN F|off  MOCN: the PLMN's share of the capacity
"""


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CliError(f"Invalid {what} '{text}': expected an integer") from None


def _float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CliError(f"Invalid {what} '{text}': expected a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise CliError(f"Invalid {what} '{text}': expected a finite number")
    return value


def _direction(text: str) -> str:
    if text not in ("dl", "ul"):
        raise CliError(f"Invalid direction '{text}': expected dl or ul")
    return text


class GnbCli(DeviceCli):
    """Interprets one command line against a VirtualGnb; returns (output, exit status)."""

    refusals = (CliError, CommandError)

    def __init__(self, gnb: VirtualGnb) -> None:
        self.gnb = gnb

    def dispatch(self, words: list[str]) -> str:
        """The output of one command (cells here, management in `mgmt_cli`)."""
        match words:
            case ["help"] | ["?"]:
                return HELP + MGMT_HELP
            case ["show", "version"]:
                return self._show_version()
            case ["show", "cell"]:
                return self._show_cells(list(self.gnb.cells))
            case ["show", "cell", cell_id]:
                return self._show_cells([self._cell_id(cell_id)])
            case ["set", "cell", cell_id, *rest] if rest:
                return self._set_cell(self._cell_id(cell_id), rest)
        managed = mgmt_dispatch(self.gnb, words)  # alarms, trap targets, firmware, reboot
        if managed is not None:
            return managed
        raise invalid(words)

    def _cell_id(self, text: str) -> int:
        cell_id = _int(text, "cell id")
        if cell_id not in self.gnb.cells:
            known = ", ".join(str(c) for c in self.gnb.cells)
            raise CliError(f"Error: no cell {cell_id} (cells: {known})")
        return cell_id

    def _show_version(self) -> str:
        return version_text(self.gnb.identity, self.gnb.uptime_ticks())

    def _show_cells(self, ids: list[int]) -> str:
        lines = [
            "Cell  Admin  BW(MHz)  SCS(kHz)  TDD               Layers(DL/UL)  Mod(DL/UL)      "
            "PCI  PLMNs           Capacity DL/UL (Mbit/s)  Quality  BLER   Loss    "
            "Delay/Jitter (ms)  PLMN shares      Band  NR-ARFCN  TxPwr(dBm)"
        ]
        for cell_id in ids:
            c = self.gnb.cells[cell_id].config
            tdd = f"{c.tdd}/{c.special}" if c.special else c.tdd
            capacity = f"{c.capacity_bps('dl') / 1e6:.1f}/{c.capacity_bps('ul') / 1e6:.1f}"
            delay = f"{c.core_delay_ms:g}/{c.jitter_ms:g}"
            shares = ",".join(f"{p}:{v:g}" for p, v in c.plmn_shares) or "-"
            lines.append(
                f"{c.id:<5} {'up' if c.admin_up else 'down':<6} {c.bandwidth_mhz:<8} "
                f"{c.scs_khz:<9} {tdd:<17} {c.layers_dl}/{c.layers_ul:<12} "
                f"{c.modulation_dl + '/' + c.modulation_ul:<15} {c.pci:<4} "
                f"{','.join(c.plmns):<15} "
                f"{capacity:<24} {c.quality:<8g} {c.bler:<6g} {c.loss:<7g} {delay:<18} "
                f"{shares:<16} {c.band:<5} {c.arfcn:<9} {c.tx_power_dbm:g}"
            )
        return "\n".join(lines) + "\n"

    def _set_cell(self, cell_id: int, args: list[str]) -> str:
        setters: dict[str, Callable[[CellConfig, list[str]], CellConfig]] = {
            "bandwidth": lambda c, a: dataclasses.replace(c, bandwidth_mhz=_int(a[0], "bandwidth")),
            "scs": lambda c, a: dataclasses.replace(c, scs_khz=_int(a[0], "SCS")),
            "pci": lambda c, a: dataclasses.replace(c, pci=_int(a[0], "PCI")),
            "band": lambda c, a: dataclasses.replace(c, band=a[0].lower()),
            "arfcn": lambda c, a: dataclasses.replace(c, arfcn=_int(a[0], "NR-ARFCN")),
            "tx-power": lambda c, a: dataclasses.replace(c, tx_power_dbm=_float(a[0], "power")),
            "layers": _set_layers,
            "modulation": _set_modulation,
            "tdd": _set_tdd,
            "special": lambda c, a: dataclasses.replace(c, special=a[0]),
            "admin": _set_admin,
            "quality": lambda c, a: dataclasses.replace(c, quality=_float(a[0], "quality")),
            "bler": lambda c, a: dataclasses.replace(c, bler=_float(a[0], "BLER")),
            "loss": lambda c, a: dataclasses.replace(c, loss=_float(a[0], "loss")),
            "delay": lambda c, a: dataclasses.replace(c, core_delay_ms=_float(a[0], "delay")),
            "jitter": lambda c, a: dataclasses.replace(c, jitter_ms=_float(a[0], "jitter")),
            "plmn-share": _set_plmn_share,
        }
        name, values = args[0], args[1:]
        if name not in setters or not values:
            raise CliError(f"Invalid input: 'set cell {cell_id} {' '.join(args)}' (type 'help')")
        with self.gnb.lock:
            runtime = self.gnb.cells[cell_id]
            new = setters[name](runtime.config, values)
            try:
                new.check()
            except ConfigError as exc:
                raise CliError(f"Error: {exc}") from None
            runtime.apply(new)
        self.gnb.faults.refresh()  # faults still apply on top; alarms follow (cell down...)
        return f"Cell {cell_id}: {name} set\n"


def _set_layers(cfg: CellConfig, args: list[str]) -> CellConfig:
    if len(args) != 2:
        raise CliError("Invalid input: set cell ID layers dl|ul N")
    n = _int(args[1], "layer count")
    if _direction(args[0]) == "dl":
        return dataclasses.replace(cfg, layers_dl=n)
    return dataclasses.replace(cfg, layers_ul=n)


def _set_modulation(cfg: CellConfig, args: list[str]) -> CellConfig:
    if len(args) != 2 or args[1].lower() not in MODULATION_ORDER:
        raise CliError("Invalid input: set cell ID modulation dl|ul qpsk|16qam|64qam|256qam")
    if _direction(args[0]) == "dl":
        return dataclasses.replace(cfg, modulation_dl=args[1].lower())
    return dataclasses.replace(cfg, modulation_ul=args[1].lower())


def _set_tdd(cfg: CellConfig, args: list[str]) -> CellConfig:
    if len(args) not in (1, 2):
        raise CliError("Invalid input: set cell ID tdd PATTERN [D:G:U]")
    special = args[1] if len(args) == 2 else (cfg.special if "S" in args[0].upper() else None)
    return dataclasses.replace(cfg, tdd=args[0].upper(), special=special)


def _set_plmn_share(cfg: CellConfig, args: list[str]) -> CellConfig:
    if len(args) != 2:
        raise CliError("Invalid input: set cell ID plmn-share PLMN F|off")
    plmn, value = args
    if plmn not in cfg.plmns:
        raise CliError(f"Error: PLMN {plmn} is not on cell {cfg.id} "
                       f"(PLMNs: {', '.join(cfg.plmns)})")
    shares = [(p, s) for p, s in cfg.plmn_shares if p != plmn]
    if value.lower() != "off":
        shares.append((plmn, _float(value, "PLMN share")))
    return dataclasses.replace(cfg, plmn_shares=tuple(shares))


def _set_admin(cfg: CellConfig, args: list[str]) -> CellConfig:
    if args not in (["up"], ["down"]):
        raise CliError("Invalid input: set cell ID admin up|down")
    return dataclasses.replace(cfg, admin_up=args[0] == "up")
