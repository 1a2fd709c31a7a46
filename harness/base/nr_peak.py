"""NR approximate peak data rate, TS 38.306 §4.1.2, and TDD symbol shares.

rate [Mbit/s] = 1e-6 · Σ_j v_layers · Q_m · f · R_max · (N_PRB · 12 / T_s^μ) · (1 − OH)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.base.errors import ConfigError

R_MAX = 948 / 1024

MODULATION_ORDER: dict[str, int] = {"qpsk": 2, "16qam": 4, "64qam": 6, "256qam": 8, "1024qam": 10}

# TS 38.306 §4.1.2 overhead by (frequency range, direction).
OVERHEAD: dict[tuple[int, str], float] = {
    (1, "dl"): 0.14, (2, "dl"): 0.18, (1, "ul"): 0.08, (2, "ul"): 0.10,
}

SCALING_FACTORS = (1.0, 0.8, 0.75, 0.4)

# TS 38.101-2 Table 5.2-1: the FR2 operating bands (FR2-1: n257..n261; FR2-2: n262, n263).
FR2_BANDS = frozenset({"n257", "n258", "n259", "n260", "n261", "n262", "n263"})
# Data SCS that only FR2 uses (TS 38.101-2 §5.3.5: 60 or 120 kHz there; FR1: 15, 30, 60).
_FR2_ONLY_SCS = frozenset({120})

# TS 38.101-1 Table 5.3.2-1 (FR1): maximum N_RB per SCS and channel bandwidth.
_FR1_NRB: dict[int, dict[int, int]] = {
    15: {5: 25, 10: 52, 15: 79, 20: 106, 25: 133, 30: 160, 40: 216, 50: 270},
    30: {5: 11, 10: 24, 15: 38, 20: 51, 25: 65, 30: 78, 40: 106, 50: 133, 60: 162, 70: 189,
         80: 217, 90: 245, 100: 273},
    60: {10: 11, 15: 18, 20: 24, 25: 31, 30: 38, 40: 51, 50: 65, 60: 79, 70: 93, 80: 107,
         90: 121, 100: 135},
}
# TS 38.101-2 Table 5.3.2-1 (FR2).
_FR2_NRB: dict[int, dict[int, int]] = {
    60: {50: 66, 100: 132, 200: 264},
    120: {50: 32, 100: 66, 200: 132, 400: 264},
}


def n_prb(bandwidth_mhz: int, scs_khz: int, fr: int = 1) -> int:
    """Maximum RB allocation for a channel bandwidth and SCS (TS 38.101-1/-2 §5.3.2)."""
    table = _FR1_NRB if fr == 1 else _FR2_NRB
    if scs_khz not in table:
        allowed = ", ".join(str(s) for s in sorted(table))
        raise ConfigError(f"SCS {scs_khz} kHz is not defined for FR{fr} (allowed: {allowed} kHz)")
    try:
        return table[scs_khz][bandwidth_mhz]
    except KeyError:
        allowed = ", ".join(str(b) for b in sorted(table[scs_khz]))
        raise ConfigError(
            f"{bandwidth_mhz} MHz is not a channel bandwidth for FR{fr} at {scs_khz} kHz "
            f"(allowed: {allowed} MHz)"
        ) from None


def frequency_range(band: str | None, scs_khz: int) -> int:
    """FR1 or FR2 of a cell, from its operating band (n257, n258, n260, n261… are FR2) or,
    when the band is unknown, from its SCS (120 kHz is FR2 only). A band and an SCS that
    disagree (an FR1 band at 120 kHz) are an error, never a guess."""
    by_scs = 2 if scs_khz in _FR2_ONLY_SCS else None
    if band is None or not band.strip():
        return by_scs or 1
    name = band.strip().lower()
    if not re.fullmatch(r"n\d{1,3}", name):
        raise ConfigError(f"NR band must read like n78 or n258, got {band!r}")
    by_band = 2 if name in FR2_BANDS else 1
    if by_scs is not None and by_scs != by_band:
        raise ConfigError(f"band {name} is FR{by_band}, but {scs_khz} kHz SCS is FR2 only: "
                          "check the cell's band and SCS")
    return by_band


def numerology(scs_khz: int) -> int:
    """μ such that SCS = 15·2^μ kHz."""
    for mu in range(5):
        if 15 * 2**mu == scs_khz:
            return mu
    raise ConfigError(f"SCS {scs_khz} kHz is not 15·2^μ kHz for μ in 0..4")


def modulation_order(modulation: str) -> int:
    """Q_m for a modulation name (qpsk, 16qam, 64qam, 256qam, 1024qam)."""
    try:
        return MODULATION_ORDER[modulation.lower()]
    except KeyError:
        allowed = ", ".join(MODULATION_ORDER)
        raise ConfigError(f"unknown modulation {modulation!r} (allowed: {allowed})") from None


@dataclass(frozen=True)
class Carrier:
    """One component carrier as TS 38.306 §4.1.2 sees it."""

    bandwidth_mhz: int
    scs_khz: int
    layers: int
    modulation: str
    direction: str = "dl"
    fr: int = 1
    scaling: float = 1.0
    prbs: int | None = None  # override N_PRB (e.g. a partial allocation)

    def peak_mbps(self) -> float:
        """Approximate peak data rate of this carrier, FDD-equivalent, in Mbit/s."""
        if self.direction not in ("dl", "ul"):
            raise ConfigError(f"direction must be dl or ul, got {self.direction!r}")
        if self.fr not in (1, 2):
            raise ConfigError(f"frequency range must be 1 or 2, got {self.fr}")
        if self.scaling not in SCALING_FACTORS:
            raise ConfigError(
                f"scaling factor must be one of {SCALING_FACTORS}, got {self.scaling}")
        if self.layers < 1 or self.layers > 8:
            raise ConfigError(f"MIMO layers must be 1..8, got {self.layers}")
        mu = numerology(self.scs_khz)
        prbs = self.prbs
        if prbs is None:
            prbs = n_prb(self.bandwidth_mhz, self.scs_khz, self.fr)
        symbol_s = 1e-3 / (14 * 2.0**mu)
        overhead = OVERHEAD[(self.fr, self.direction)]
        q_m = modulation_order(self.modulation)
        rate = self.layers * q_m * self.scaling * R_MAX * (prbs * 12 / symbol_s) * (1 - overhead)
        return float(rate * 1e-6)


_PATTERN = re.compile(r"^[DSU]+$")
_SPECIAL = re.compile(r"^(\d+):(\d+):(\d+)$")


def tdd_share(pattern: str, special: str | None, direction: str) -> float:
    """Share of OFDM symbols in a TDD pattern usable in `direction` (engineering practice).

    `pattern` is a slot string such as DDDSU; `special` the S-slot split D:G:U in symbols
    (must add up to 14). An all-D or all-U pattern or "FDD" gives 1.0.
    """
    pattern = pattern.upper()
    if pattern == "FDD":
        return 1.0
    if not _PATTERN.match(pattern):
        raise ConfigError(f"TDD pattern must be a string of D, S and U slots, got {pattern!r}")
    d_sym, u_sym = 0, 0
    if "S" in pattern:
        if special is None:
            raise ConfigError(f"TDD pattern {pattern} has an S slot: give its split, e.g. '10:2:2'")
        match = _SPECIAL.match(special.strip())
        if not match:
            raise ConfigError(f"special-slot split must read D:G:U, e.g. '10:2:2', got {special!r}")
        d_sym, g_sym, u_sym = (int(x) for x in match.groups())
        if d_sym + g_sym + u_sym != 14:
            raise ConfigError(f"special-slot split {special} must add up to 14 symbols")
    total = 14 * len(pattern)
    dl = 14 * pattern.count("D") + d_sym * pattern.count("S")
    ul = 14 * pattern.count("U") + u_sym * pattern.count("S")
    if direction == "dl":
        return dl / total
    if direction == "ul":
        return ul / total
    raise ConfigError(f"direction must be dl or ul, got {direction!r}")
