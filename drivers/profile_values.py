"""Cell parameters as a device spells them: value maps, scale, separate read and write
encodings, and the table row (`{index}`) that holds a cell's objects."""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Annotated, Literal

from pydantic import Field, model_validator

from drivers.mibs import OID_OR_NAME, OID_TEMPLATE
from harness.base.errors import CommandFailed
from harness.base.schema import FieldError, StrictModel

Value = int | str

# What peak() reads off a cell (TS 38.306: bandwidth, SCS, layers and modulation per
# direction); `tdd`/`special` (FDD without them) and `band` (FR from the SCS without it) are
# optional.
PEAK_PARAMS = ("bandwidth_mhz", "scs_khz", "layers_dl", "layers_ul", "modulation_dl",
               "modulation_ul")

CELL_PARAM_NAMES = Literal["bandwidth_mhz", "scs_khz", "tdd", "special", "layers_dl",
                           "layers_ul", "modulation_dl", "modulation_ul", "admin", "band"]


def _number(value: float) -> Value:
    """An integral float as an int (40.0 → 40), so that it compares and prints as written."""
    return int(value) if float(value).is_integer() else str(value)


class Encoding(StrictModel):
    """How a value is spelled on the device: a value map (device value → harness value, used
    both ways) or a scale (harness value = device value × scale); neither: as it is."""

    map: dict[Value, Value] = {}
    scale: float | None = None

    @model_validator(mode="after")
    def _one_to_one(self) -> Encoding:
        if self.map and self.scale is not None:
            raise FieldError("give `map` or `scale`, not both", at=("scale",))
        if self.scale is not None and self.scale == 0:
            raise FieldError("scale 0 would turn every value into 0", at=("scale",))
        seen: dict[str, Value] = {}
        for device, harness in self.map.items():
            if str(harness) in seen:
                raise FieldError(f"device values {seen[str(harness)]!r} and {device!r} both map "
                                 f"to {harness!r}: a map is read both ways, so keep one",
                                 at=("map", str(device)))
            seen[str(harness)] = device
        return self

    def decode(self, value: Value) -> Value:
        """The harness value of what the device sent; KeyError when the map lacks it."""
        if self.map:
            for device, harness in self.map.items():
                if str(device) == str(value):
                    return harness
            raise KeyError(value)
        if self.scale is not None:
            return _number(float(value) * self.scale)
        return value

    def encode(self, value: Value) -> Value:
        """The device's spelling of a harness value; KeyError when the map lacks it."""
        if self.map:
            for device, harness in self.map.items():
                if str(harness) == str(value):
                    return device
            raise KeyError(value)
        if self.scale is not None:
            return _number(round(float(value) / self.scale, 9))
        return value

    def known(self) -> str:
        """The values the map knows, for messages."""
        return ", ".join(f"{d}={h}" for d, h in self.map.items())


class CellParam(Encoding):
    """A cell parameter readable over SNMP (snapshots, conditions, peak()); `map`/`scale` say
    how the device spells it, `write` how set_cell must spell it when that differs (e.g.
    read as a PRB count, written in MHz: `write: {}`)."""

    oid: Annotated[str, Field(pattern=OID_TEMPLATE)]
    type: Literal["int", "str"] = "int"
    write: Encoding | None = None

    def read(self, device: str, name: str, value: Value) -> Value:
        """The harness value of a read; CommandFailed naming the map when it lacks it."""
        try:
            return self.decode(value)
        except KeyError:
            raise CommandFailed(f"{device}: cell parameter {name}: the device sent {value!r}, "
                                f"which the profile's map does not know ({self.known()}): "
                                "add it to cell_params." + name + ".map") from None
        except ValueError:
            raise CommandFailed(f"{device}: cell parameter {name}: the device sent {value!r}, "
                                "not a number to scale") from None

    def written(self, name: str, value: Value) -> Value:
        """How set_cell spells a harness value: through `write` when given, else the read
        encoding backwards; ValueError naming the map when it lacks the value."""
        encoding: Encoding = self.write if self.write is not None else self
        try:
            return encoding.encode(value)
        except KeyError:
            raise ValueError(f"{name} {value!r} has no device value in the profile's map "
                             f"({encoding.known()})") from None


class CellIndex(StrictModel):
    """Where a cell's `{index}` comes from: the row of this table column whose value is the
    cell number (e.g. a cellId column of a table indexed by something else)."""

    column: Annotated[str, Field(pattern=OID_OR_NAME)]


def index_from_walk(rows: Mapping[str, object], cell: int) -> str | None:
    """The row index of the row whose value is `cell`, from a column walk ({index: value})."""
    for index, value in rows.items():
        if str(value) == str(cell):
            return index
    return None


def missing_peak_params(params: Container[str]) -> list[str]:
    """The cell parameters peak() needs that `params` lacks, in PEAK_PARAMS order."""
    return [name for name in PEAK_PARAMS if name not in params]
