"""The `pm_files:` section of a vendor profile: KPIs read from 3GPP PM files over SFTP.

```yaml
pm_files:
  directory: /pm                 # SFTP folder the device writes its files into
  pattern: "A*_gnb*.xml*"        # file names to take (shell glob; .gz accepted)
  kpis:
    DRB.PdcpSduVolumeDL: {type: counter, unit: Mbit, scale: 8.0e-6}
    RRU.PrbUsedDl: {type: gauge, unit: PRB}
    DRB.UEThpDl.PLMN2: {counter: DRB.UEThpDl, plmn: "452-04", type: gauge, unit: kbit/s}
```
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from harness.base.schema import NonEmptyStr, StrictModel


class PmFileKpi(StrictModel):
    """One KPI taken from PM files: which counter (measType), of which PLMN, what kind."""

    counter: NonEmptyStr | None = None  # the measType name; default: the KPI's own name
    plmn: Annotated[str, Field(pattern=r"^[0-9]{3}-?[0-9]{2,3}$")] | None = None
    type: Literal["counter", "gauge"] = "counter"  # counter: the value is the period's increase
    unit: str = ""
    scale: float = 1.0
    description: str = ""


class PmFilesSpec(StrictModel):
    """Where the device's PM files are and which KPIs they carry."""

    directory: NonEmptyStr = "/"
    pattern: NonEmptyStr = "A*.xml*"
    kpis: dict[NonEmptyStr, PmFileKpi]


__all__ = ["PmFileKpi", "PmFilesSpec"]
