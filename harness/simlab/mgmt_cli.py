"""Management commands of the virtual gNodeB's CLI: alarms, trap targets, firmware, reboot.

`dispatch` returns the output of a management command, None when the words are not one (the
main CLI then goes on), or raises `CommandError` (shown after '% ', exit status 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.simlab.alarms import format_alarms
from harness.simlab.firmware import InstallResult
from harness.simlab.mgmt import CommandError, TrapTarget

if TYPE_CHECKING:
    from harness.simlab.gnb import VirtualGnb

HELP = """  show alarms
  show environment
  show firmware
  install firmware FILE
  reboot
  show snmp trap-targets
  set snmp trap-target HOST PORT [v2c|v3]
  no snmp trap-target HOST PORT
"""


def dispatch(gnb: VirtualGnb, words: list[str]) -> str | None:
    """Run a management command; None when `words` are not one."""
    mgmt = gnb.mgmt
    match words:
        case ["show", "alarms"]:
            return format_alarms(mgmt.alarms.active())
        case ["show", "environment"]:
            return _environment(gnb)
        case ["show", "firmware"]:
            return _firmware(gnb)
        case ["install", "firmware", file]:
            return mgmt.install_firmware(file)
        case ["reboot"]:
            mgmt.request_reboot()
            return f"Rebooting: back in about {mgmt.reboot_s:g} s\n"
        case ["show", "snmp", "trap-targets"]:
            return _targets(gnb)
        case ["set", "snmp", "trap-target", host, port, *version] if len(version) <= 1:
            target = TrapTarget(host, _port(port), _version(version[0] if version else "v2c"))
            mgmt.add_trap_target(target)
            return f"Trap target {host}:{target.port} (SNMP v{target.version}) set\n"
        case ["no", "snmp", "trap-target", host, port]:
            if not mgmt.remove_trap_target(host, _port(port)):
                raise CommandError(f"Error: no trap target {host}:{port}")
            return f"Trap target {host}:{port} removed\n"
    return None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise CommandError(f"Invalid port '{text}': expected 1..65535") from None
    if not 1 <= port <= 65535:
        raise CommandError(f"Invalid port '{text}': expected 1..65535")
    return port


def _version(text: str) -> str:
    versions = {"v2c": "2c", "2c": "2c", "v3": "3", "3": "3"}
    if text.lower() not in versions:
        raise CommandError(f"Invalid SNMP version '{text}': expected v2c or v3")
    return versions[text.lower()]


def _targets(gnb: VirtualGnb) -> str:
    targets = gnb.mgmt.trap_targets()
    if not targets:
        return "No trap targets\n"
    lines = [f"{'Host':<40} {'Port':<6} Version"]
    lines += [f"{t.host:<40} {t.port:<6} v{t.version}" for t in targets]
    return "\n".join(lines) + "\n"


def _firmware(gnb: VirtualGnb) -> str:
    mgmt = gnb.mgmt
    lines = [f"Running version : {gnb.identity.firmware}",
             f"Boot count      : {mgmt.boot_count}",
             f"Reboot duration : {mgmt.reboot_s:g} s"]
    record = mgmt.last_install
    if record is None:
        lines.append("Last install    : none")
    else:
        result = "installed" if record.result is InstallResult.SUCCESS else "refused"
        detail = record.version if record.result is InstallResult.SUCCESS else record.reason
        lines.append(f"Last install    : {record.file} {result} at {record.at_iso} ({detail})")
    files = mgmt.flash_files()
    lines.append("Flash           : " + (", ".join(f"{p} ({size} B)" for p, size in files)
                                       if files else "empty"))
    return "\n".join(lines) + "\n"


def _environment(gnb: VirtualGnb) -> str:
    health = gnb.mgmt.health
    lines = ["CPU load (%)    : " + " ".join(f"{load:.0f}" for load in health.cpu),
             f"Memory used     : {health.memory_used_kib / 1024**2:.2f} GiB"]
    for sensor, celsius in health.temperatures().items():
        flag = "  HIGH" if sensor in health.hot else ""
        lines.append(f"Temperature {sensor:<8}: {celsius:.1f} C{flag}")
    return "\n".join(lines) + "\n"


__all__ = ["HELP", "dispatch"]
