"""What the harness simulates for a lab device: a gNodeB's cells, a 5G core's subscribers.

A device's `simulated:` block is one of these models, chosen by the device's role
(`simulated_for_role`); its values become the virtual equipment's configuration.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from harness.base.errors import ConfigError
from harness.base.schema import (
    Duration,
    FieldError,
    Identifier,
    NonEmptyStr,
    StrictModel,
    unknown_key_message,
)
from harness.base.snmprec import load_snmprec
from harness.base.transcript import load_transcript

_PLMN = re.compile(r"[0-9]{3}-[0-9]{2,3}")  # ASCII digits only: \d would take any script's


def _plmn(value: str) -> str:
    if _PLMN.fullmatch(value) is None:
        raise ValueError(f"expected a PLMN like '452-02' (MCC-MNC in ASCII digits 0-9), "
                         f"got {value!r}")
    return value


Plmn = Annotated[str, AfterValidator(_plmn)]
"""A PLMN id `MCC-MNC`: 3 then 2 or 3 ASCII digits, e.g. "452-02"."""

class Layers(StrictModel):
    """Maximum MIMO layers per direction."""

    dl: Annotated[int, Field(ge=1, le=8)] = 4
    ul: Annotated[int, Field(ge=1, le=4)] = 1


class Modulation(StrictModel):
    """Maximum modulation per direction."""

    dl: Literal["qpsk", "16qam", "64qam", "256qam"] = "256qam"
    ul: Literal["qpsk", "16qam", "64qam", "256qam"] = "64qam"


class CellSpec(StrictModel):
    """One NR cell of a simulated gNodeB."""

    id: Annotated[int, Field(ge=1, le=1024)]
    bandwidth_mhz: int = 100
    scs_khz: Literal[15, 30, 60, 120] = 30  # 120 kHz: FR2 (with an FR2 band, e.g. n258)
    tdd: Annotated[str, Field(pattern=r"^(FDD|[DSU]+)$")] = "DDDSU"
    special: Annotated[str, Field(pattern=r"^[0-9]+:[0-9]+:[0-9]+$")] | None = "10:2:2"
    layers: Layers = Layers()
    modulation: Modulation = Modulation()
    plmns: list[Plmn] = ["452-02"]
    pci: Annotated[int, Field(ge=0, le=1007)] = 1
    band: Annotated[str, Field(pattern=r"^n[0-9]{1,3}$")] = "n78"
    arfcn: Annotated[int, Field(ge=0, le=3279165)] = 636666  # NR-ARFCN
    tx_power_dbm: Annotated[float, Field(ge=-10, le=60)] = 43.0
    quality: Annotated[float, Field(ge=0, le=1)] = 1.0  # channel-quality factor × capacity
    bler: Annotated[float, Field(ge=0, lt=1)] = 0.0  # HARQ block error rate
    loss: Annotated[float, Field(ge=0, le=1)] = 0.0  # random packet loss
    core_delay: Annotated[Duration, Field(le=10)] = 0.001  # one-way core/transport delay
    jitter: Annotated[Duration, Field(le=10)] = 0.0  # ± uniform jitter on the core delay
    plmn_shares: dict[Plmn,
                      Annotated[float, Field(gt=0, le=1)]] = {}  # MOCN capacity shares

    @model_validator(mode="after")
    def _valid_shares(self) -> CellSpec:
        for plmn in self.plmn_shares:
            if plmn not in self.plmns:
                raise FieldError(f"PLMN {plmn} is not in the cell's plmns "
                                 f"({', '.join(self.plmns)})", at=("plmn_shares", plmn))
        total = sum(self.plmn_shares.values())
        if total > 1 + 1e-9:
            raise FieldError(f"PLMN shares add up to {total:g}: they must not exceed 1",
                             at=("plmn_shares",))
        return self

    @model_validator(mode="after")
    def _valid_carrier(self) -> CellSpec:
        from harness.base.nr_peak import frequency_range, n_prb, tdd_share

        try:
            fr = frequency_range(self.band, self.scs_khz)
        except ConfigError as exc:
            raise FieldError(exc.reason, at=("scs_khz",)) from None
        try:
            n_prb(self.bandwidth_mhz, self.scs_khz, fr)
        except ConfigError as exc:
            raise FieldError(exc.reason, at=("bandwidth_mhz",)) from None
        try:
            tdd_share(self.tdd, self.special, "dl")
        except ConfigError as exc:
            raise FieldError(exc.reason, at=("tdd",)) from None
        return self


class PmFiles(StrictModel):
    """The simulated gNodeB writes TS 32.435 PM files into its SFTP area (`/pm/`)."""

    granularity: Annotated[Duration, Field(ge=1, le=86400)] = 900.0  # 15 min; 1m in tests
    suspect: bool = False  # mark every period `suspect` (a device whose counters are unreliable)


class SimulatedDevice(StrictModel):
    """Present on a device: the harness starts a virtual one for it."""

    cells: list[CellSpec] = [CellSpec(id=1)]
    serial: NonEmptyStr | None = None
    firmware: NonEmptyStr = "1.0.0"
    model: NonEmptyStr = "SimGNB-1"
    core: Identifier | None = None  # the simulated core it attaches to (default: the only one)
    pm_files: PmFiles | None = None  # PM files at this granularity (harness/simlab/pm_writer)

    @model_validator(mode="after")
    def _unique_cells(self) -> SimulatedDevice:
        ids = [cell.id for cell in self.cells]
        for i, cell_id in enumerate(ids):
            if cell_id in ids[:i]:
                raise FieldError(f"cell id {cell_id} appears twice", at=("cells", i, "id"))
        if not self.cells:
            raise FieldError("a simulated gNodeB needs at least one cell", at=("cells",))
        return self


_SNSSAI = re.compile(r"^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(-[0-9A-Fa-f]{6})?$")


def _snssai(value: str) -> str:
    if not _SNSSAI.match(value):
        raise ValueError("expected an S-NSSAI like '1' or '1-000001' (SST 0-255, then "
                         f"optionally '-' and a 6-hex-digit SD), got {value!r}")
    return value


Snssai = Annotated[str, AfterValidator(_snssai)]
"""An S-NSSAI as `SST` or `SST-SD` (SD in hex), e.g. "1-000001" (TS 23.003 §28.4.2)."""


class SimulatedCore(StrictModel):
    """Present on a core device: the harness starts a virtual 5G core (AMF/SMF/UPF) for it.

    `subscribers` UEs register when the lab starts, spread round-robin over the PLMNs and then
    the slices, each with one PDU session on its slice.
    """

    plmns: list[Plmn] = ["452-02"]
    slices: list[Snssai] = ["1-000001"]
    subscribers: Annotated[int, Field(ge=0, le=100_000)] = 10
    dnn: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$")] = "internet"
    serial: NonEmptyStr | None = None
    firmware: NonEmptyStr = "1.0.0"
    model: NonEmptyStr = "SimCore-1"

    @model_validator(mode="after")
    def _non_empty(self) -> SimulatedCore:
        for name in ("plmns", "slices"):
            values: list[str] = getattr(self, name)
            if not values:
                raise FieldError(f"a simulated core needs at least one entry in {name}",
                                 at=(name,))
            for i, value in enumerate(values):
                if value in values[:i]:
                    raise FieldError(f"{value!r} appears twice", at=(name, i))
        return self


class SimulatedReplay(StrictModel):
    """`simulated: {replay: DIR}`: the device is served from a recording (`harness record`),
    SNMP from its .snmprec and the CLI from its transcripts. DIR is relative to lab.yaml."""

    replay: NonEmptyStr

    @field_validator("replay", mode="after")
    @classmethod
    def _folder(cls, value: str, info: ValidationInfo) -> str:
        base = (info.context or {}).get("base_dir")
        folder = Path(str(base)) / value if base is not None else Path(value)
        if not folder.is_dir():
            raise ValueError(f"no recording folder {folder} (make one with `harness record "
                             "DEVICE --lab LAB -o DIR`)")
        try:  # a broken recording is found by `harness validate`, with its own file:line
            for path in folder.glob("*.snmprec"):
                load_snmprec(path)
            for path in folder.glob("cli/*.txt"):
                load_transcript(path)
        except ConfigError as exc:
            raise ValueError(f"broken recording: {exc}") from None
        return str(folder)


def simulated_for_role(value: Any, handler: Any, info: ValidationInfo) -> Any:
    """`simulated:` is a gNodeB (cells) or a core (PLMNs, slices, subscribers) by the role."""
    role = info.data.get("role")
    if isinstance(value, dict) and "replay" in value and role in ("gnodeb", "core"):
        for key in value:
            if key != "replay":
                raise FieldError(f"a replayed device takes only replay: (the recording), not "
                                 f"{key!r}", at=(key,))
        return SimulatedReplay.model_validate(value, context=info.context)
    models: dict[str, type[StrictModel]] = {"gnodeb": SimulatedDevice, "core": SimulatedCore}
    model = models.get(str(role))
    if model is None or not isinstance(value, dict):
        return handler(value)
    allowed = [f.alias or name for name, f in model.model_fields.items()]
    for key in value:
        if key not in allowed:
            raise FieldError(unknown_key_message(key, allowed), at=(key,))
    return model.model_validate(value, context=info.context)
