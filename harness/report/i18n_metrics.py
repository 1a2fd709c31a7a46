"""Bilingual descriptions of metric names (`dl.throughput.p5`, `y1564.internet.cir50.flr`,
`sharing.plmn_452_02.share`…): the name itself stays untranslated beside it in the report."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

Pair = tuple[str, str]

#: Whole metric names (or their stem before a statistic) with a fixed meaning.
NAMED: Mapping[str, Pair] = MappingProxyType(
    {
        "tcp.efficiency": ("Hiệu suất TCP (RFC 6349)", "TCP efficiency (RFC 6349)"),
        "tcp.buffer_delay": ("Độ trễ bộ đệm TCP (RFC 6349)", "TCP buffer delay (RFC 6349)"),
        "tcp.rtt.baseline": ("RTT cơ sở của TCP", "TCP baseline RTT"),
        "tcp.rtt": ("RTT của TCP", "TCP round-trip time"),
        "throughput.bytes": ("Tổng số byte truyền", "Bytes transferred"),
        "throughput.packets": ("Số gói", "Packets"),
        "throughput.loss": ("Tỷ lệ mất gói", "Packet loss rate"),
        "throughput.jitter": ("Biến động trễ (jitter)", "Jitter"),
        "throughput.retransmits": ("Số lần truyền lại TCP", "TCP retransmissions"),
        "crosscheck.deviation": ("Chênh lệch lưu lượng UE / gNodeB",
                                 "UE / gNodeB volume deviation"),
        "crosscheck.gnb_volume": ("Lưu lượng đếm tại gNodeB (PDCP SDU)",
                                  "Volume counted by the gNodeB (PDCP SDU)"),
        "crosscheck.ue_volume": ("Lưu lượng nhận tại UE", "Volume received by the UE"),
        "crosscheck.mismatch": ("Số lần lệch vượt dung sai", "Mismatches beyond tolerance"),
        "alarms.raised": ("Số cảnh báo phát sinh", "Alarms raised"),
        "alarms.total": ("Tổng số cảnh báo", "Alarms in total"),
        "alarms.traps": ("Số bản tin trap nhận được", "Traps received"),
        "alarms.warning": ("Cảnh báo mức cảnh báo", "Warning alarms"),
        "jitter.rfc3550": ("Biến động trễ (jitter) theo RFC 3550", "Jitter (RFC 3550)"),
        "ipdv": ("Biến thiên độ trễ giữa các gói (IPDV)", "IP packet delay variation (IPDV)"),
        "loss.percent": ("Tỷ lệ mất gói", "Packet loss rate"),
        "soak.availability": ("Độ khả dụng (tỷ lệ lần thăm dò đạt)",
                              "Availability (share of probes that met the floor)"),
        "soak.available": ("Số lần thăm dò đạt", "Probes that met the floor"),
        "soak.probes": ("Số lần thăm dò", "Probes"),
        "soak.errors": ("Số lần thăm dò lỗi", "Probes in error"),
        "soak.loss": ("Tỷ lệ mất gói khi thăm dò", "Probe packet loss"),
        "soak.throughput": ("Thông lượng khi thăm dò", "Probe throughput"),
        "soak.rtt": ("RTT khi thăm dò", "Probe round-trip time"),
        "sharing.capacity": ("Dung lượng ô (cell)", "Cell capacity"),
        "sharing.total": ("Tổng thông lượng các nhà mạng", "Total throughput of the operators"),
        "sharing.isolation": ("Mức cách ly giữa các nhà mạng", "Isolation between operators"),
        "sharing.share_error": ("Sai lệch tỷ lệ chia sẻ", "Share error"),
        "sharing.victim.alone": ("Thông lượng nhà mạng khi đo riêng",
                                 "Operator's throughput alone"),
        "sharing.victim.together": ("Thông lượng nhà mạng khi đo cùng lúc",
                                    "Operator's throughput together"),
        "firmware.version_ok": ("Phiên bản sau nâng cấp đúng", "Version after upgrade as expected"),
        "firmware.refused": ("Thiết bị từ chối bản phần sụn", "Image refused by the device"),
        "firmware.old_version_kept": ("Giữ phiên bản cũ", "Old version kept"),
        "firmware.came_back": ("Thiết bị hoạt động trở lại", "Device came back"),
        "firmware.upload_s": ("Thời gian tải lên bản phần sụn", "Image upload time"),
        "firmware.downtime_s": ("Thời gian gián đoạn", "Downtime"),
        "firmware.back_after_s": ("Thời gian hoạt động trở lại", "Back after"),
        "regression.trials": ("Số phép đo hồi quy", "Regression trials"),
        "y1564.services_failed": ("Số dịch vụ không đạt", "Services failed"),
    }
)

#: The first part of a metric name (`throughput.mean` → `throughput`).
QUANTITY: Mapping[str, Pair] = MappingProxyType(
    {
        "throughput": ("Thông lượng", "Throughput"),
        "rtt": ("Thời gian trễ khứ hồi (RTT)", "Round-trip time"),
        "latency": ("Độ trễ", "Latency"),
        "owd": ("Độ trễ một chiều (one-way delay)", "One-way delay"),
        "jitter": ("Biến động trễ (jitter)", "Jitter"),
        "loss": ("Tỷ lệ mất gói", "Packet loss rate"),
        "retransmits": ("Số lần truyền lại", "Retransmissions"),
        "alarms": ("Cảnh báo", "Alarms"),
    }
)

#: The last part of a metric name (`throughput.mean` → `mean`).
STATISTIC: Mapping[str, Pair] = MappingProxyType(
    {
        "mean": ("giá trị trung bình", "mean"),
        "median": ("trung vị", "median"),
        "p50": ("trung vị", "median"),
        "min": ("giá trị nhỏ nhất", "minimum"),
        "max": ("giá trị lớn nhất", "maximum"),
        "stdev": ("độ lệch chuẩn", "standard deviation"),
        "stddev": ("độ lệch chuẩn", "standard deviation"),
        "std": ("độ lệch chuẩn", "standard deviation"),
        "samples": ("số mẫu", "number of samples"),
        "count": ("số mẫu", "number of samples"),
        "delta": ("mức tăng trong phép đo", "increase during the trial"),
        "ci95_low": ("cận dưới khoảng tin cậy 95 %", "95 % confidence interval, lower"),
        "ci95_high": ("cận trên khoảng tin cậy 95 %", "95 % confidence interval, upper"),
        "ci_low": ("cận dưới khoảng tin cậy 95 %", "95 % confidence interval, lower"),
        "ci_high": ("cận trên khoảng tin cậy 95 %", "95 % confidence interval, upper"),
        "critical": ("mức nghiêm trọng", "critical"),
        "major": ("mức chính", "major"),
        "minor": ("mức phụ", "minor"),
    }
)

_PREFIX: Mapping[str, Pair] = MappingProxyType(
    {"dl": ("đường xuống", "downlink"), "ul": ("đường lên", "uplink"),
     "load": ("tải nền", "background load")})

_Y1564_ATTR: Mapping[str, Pair] = MappingProxyType(
    {"ir": ("tốc độ thông tin (IR)", "information rate (IR)"),
     "flr": ("tỷ lệ mất khung (FLR)", "frame loss ratio (FLR)"),
     "ftd": ("độ trễ truyền khung (FTD)", "frame transfer delay (FTD)"),
     "fdv": ("biến động trễ khung (FDV)", "frame delay variation (FDV)")})

_HEALTH: Mapping[str, Pair] = MappingProxyType(
    {"cpu": ("tải CPU", "CPU load"), "memory": ("bộ nhớ", "memory"),
     "temperature": ("nhiệt độ", "temperature")})


def percentile(statistic: str) -> Pair | None:
    """`p95` → ("phân vị thứ 95 (p95)", "95th percentile"), None for anything else."""
    if len(statistic) < 2 or statistic[0] != "p" or not statistic[1:].isdigit():
        return None
    n = int(statistic[1:])
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return (f"phân vị thứ {n} ({statistic})", f"{n}{suffix} percentile")


def _statistic(statistic: str) -> Pair | None:
    return STATISTIC.get(statistic) or percentile(statistic)


def _join(head: Pair, tail: Pair) -> Pair:
    return (f"{head[0]}, {tail[0]}", f"{head[1]}, {tail[1]}")


def _named(name: str) -> Pair | None:
    """A NAMED metric, or a NAMED stem followed by a statistic (`soak.rtt.p95`)."""
    if name in NAMED:
        return NAMED[name]
    stem, _, statistic = name.rpartition(".")
    if stem in NAMED and (s := _statistic(statistic)) is not None:
        return _join(NAMED[stem], s)
    return None


def _special(name: str) -> Pair | None:
    """Families whose middle part is a name: Y.1564 services, RFC 2544 frame sizes, PLMNs,
    device health and polled KPIs."""
    parts = name.split(".")
    if parts[0] == "y1564" and len(parts) >= 3:
        service = parts[1]
        if parts[-1] == "steps_failed":
            return (f"Dịch vụ {service}: số bước không đạt", f"Service {service}: steps failed")
        attr = _Y1564_ATTR.get(parts[-1])
        if attr is not None and len(parts) == 4:
            step = parts[2]
            step_pair = (("phép đo hiệu năng", "performance test") if step == "perf"
                         else (f"bước {step}", f"step {step}"))
            return (f"Dịch vụ {service}, {step_pair[0]}: {attr[0]}",
                    f"Service {service}, {step_pair[1]}: {attr[1]}")
    if parts[0] == "rfc2544" and len(parts) == 3:
        match = re.fullmatch(r"f(\d+)", parts[2])
        size = f"{match.group(1)} byte" if match else parts[2]
        what = {"throughput": ("Thông lượng không mất gói", "Zero-loss throughput"),
                "latency": ("Độ trễ", "Latency"),
                "confirmed": ("Tốc độ đã được xác nhận", "Rate confirmed"),
                "iterations": ("Số lần lặp tìm kiếm", "Search iterations"),
                "loss": ("Tỷ lệ mất khung", "Frame loss rate")}.get(parts[1])
        if what is not None:
            return (f"{what[0]} (RFC 2544), khung {size}", f"{what[1]} (RFC 2544), {size} frames")
    if parts[0] == "sharing" and len(parts) == 3 and parts[1].startswith("plmn_"):
        plmn = parts[1][5:].replace("_", "-")
        what = {"share": ("tỷ lệ chia sẻ đo được", "measured share"),
                "expected_share": ("tỷ lệ chia sẻ cấu hình", "configured share"),
                "share_error": ("sai lệch tỷ lệ chia sẻ", "share error"),
                "throughput": ("thông lượng", "throughput")}.get(parts[2])
        if what is not None:
            return (f"PLMN {plmn}: {what[0]}", f"PLMN {plmn}: {what[1]}")
    if len(parts) >= 3 and any(c.isupper() for c in parts[1]):  # device.KPI….statistic
        statistic = _statistic(parts[-1])
        if statistic is not None:
            kpi = ".".join(parts[1:-1])
            return (f"{parts[0]}: KPI {kpi}, {statistic[0]}", f"{parts[0]}: KPI {kpi}, "
                    f"{statistic[1]}")
    if parts[0] == "health" and len(parts) == 4:
        aspect, statistic = _HEALTH.get(parts[2]), _statistic(parts[3])
        if aspect is not None and statistic is not None:
            return (f"{parts[1]}: {aspect[0]}, {statistic[0]}",
                    f"{parts[1]}: {aspect[1]}, {statistic[1]}")
    return None


def metric_pair(name: str) -> Pair | None:
    """(Vietnamese, English) description of a metric name, or None when it is not known."""
    head, _, rest = name.partition(".")
    if head in _PREFIX and rest:
        inner = metric_pair(rest)
        return _join(inner, _PREFIX[head]) if inner is not None else None
    found = _named(name) or _special(name)
    if found is not None:
        return found
    quantity, _, statistic = name.partition(".")
    q = QUANTITY.get(quantity)
    if q is None:
        return None
    if not statistic:
        return q
    s = _statistic(statistic)
    return _join(q, s) if s is not None else None
