"""The verdict rules of harness/report/verdict_rules.py in Vietnamese (terms from
GLOSSARY-vi.md), in the same shape: one text per English rule, in the same order, so the
report's appendix can be written in the report's language (a test keeps the shapes equal).
docs/verdicts.md stays English, generated from the English table alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from harness.base.verdict import Verdict
from harness.report.verdict_rules import COMMON, KINDS, KindRules, _rules

COMMON_VI = _rules(
    pass_=("mọi chỉ tiêu của phép đo và mọi tiêu chí chấp nhận tích hợp của loại phép đo đều "
           "Đạt (một phép đo không có gì để đánh giá bị `harness validate` từ chối: không có "
           "chỉ tiêu và loại phép đo không có tiêu chí chấp nhận tích hợp)",),
    fail=("một chỉ tiêu Không đạt: giá trị đo không đạt ngưỡng và khoảng tin cậy 95 % của nó "
          "nằm hoàn toàn về phía không đạt (như nhau dù đại lượng được viết ở vế nào của phép "
          "so sánh)",
          "một tiêu chí chấp nhận tích hợp của loại phép đo Không đạt (liệt kê theo từng loại)",
          "khi có kết quả gốc để so sánh (`--baseline`), một đại lượng mà các chỉ tiêu đánh giá "
          "(hoặc kịch bản nêu trong `regression:`) kém hơn kết quả gốc quá mức nhiễu nền và "
          "ngưỡng, với kiểm định Welch p < alpha trên ≥ 2 lần lặp mỗi bên: lý do là "
          "`regression` (suy giảm so với kết quả gốc), khác với một chỉ tiêu không đạt "
          "(docs/regressions.md)"),
    inconclusive=(
        "khoảng tin cậy 95 % của một chỉ tiêu chứa ngưỡng của nó; khoảng tin cậy được mang "
        "theo qua các phép tính của chỉ tiêu",
        "một chỉ tiêu dùng một ước lượng thống kê (giá trị trung bình hoặc phân vị của một "
        "chuỗi mẫu, tỷ lệ mẫu, tỷ lệ mất gói) mà không tính được khoảng tin cậy, hoặc một đại "
        "lượng dựa trên ít hơn `min_samples` mẫu (mặc định 10); các quan sát chính xác (số "
        "đếm, tổng số byte, hiệu số bộ đếm, giá trị nhỏ nhất/lớn nhất quan sát được, số cảnh "
        "báo) không cần khoảng tin cậy (harness/judge/estimates.py liệt kê cả hai loại)",
        "lưu lượng đo phía UE và bộ đếm lưu lượng PDCP SDU của gNodeB trong cùng khoảng thời "
        "gian lệch nhau quá dung sai đối chiếu (mặc định 5 %, đặt được trong kịch bản và "
        "trong lab.yaml)",
        "(phòng thí nghiệm mô phỏng) bộ chuyển tiếp UDP của trình mô phỏng tự làm mất gói "
        "trong khi phép đo chạy trên gNodeB của nó — hàng đợi trễ hoặc bộ đệm socket của nó đã "
        "đầy, hoặc nhân hệ điều hành từ chối gửi vì thiếu bộ đệm: máy này thiếu CPU, nên các "
        "số liệu mất gói, thông lượng và dung lượng của phép đo là của trình mô phỏng, không "
        "phải của ô mô phỏng (tiêu chí chấp nhận \"simulated lab headroom\", đại lượng "
        "`simlab.relay_lost`; `simlab.relay_late` đếm các gói nó gửi muộn hơn 2 ms so với thời "
        "điểm đến hạn, được báo cáo nhưng không dùng để đánh giá: gửi muộn chỉ làm tăng độ trễ "
        "đo được). Phép đo như vậy bị vô hiệu: các chỉ tiêu và tiêu chí chấp nhận riêng của "
        "loại phép đo đều cho kết quả INCONCLUSIVE dù đo được gì, kể cả FAIL, vì một FAIL sẽ "
        "quy lỗi cho ô mô phỏng về mất gói của trình mô phỏng; số liệu vẫn được giữ, và kết quả "
        "tổng hợp của phép đo chỉ đánh giá các lần lặp không bị vô hiệu (INCONCLUSIVE khi tất "
        "cả đều bị vô hiệu)",
        "một suy giảm vượt mức nhiễu nền mà một lần lặp duy nhất không phân biệt được với "
        "nhiễu",
    ),
    error=("phép đo không đo được: một thiết bị, một công cụ đo hoặc ran-harness gặp lỗi trong "
           "khi đo (lý do được nêu, vết lỗi nằm trong run.log, mọi mẫu đã lấy được giữ lại và "
           "lần chạy tiếp tục)",
           "điều kiện đo đọc từ gNodeB khi bắt đầu phép đo (băng tần, băng thông kênh, khoảng "
           "cách sóng mang con (SCS), cấu hình khung TDD, số lớp MIMO, điều chế) khác với tham "
           "số của phép đo (nêu cả hai giá trị)",
           "một chỉ tiêu dùng một đại lượng mà phép đo không tạo ra",
           "(của lần chạy, không phải của một phép đo) một thiết bị không được đưa về đúng trạng "
           "thái đã ghi nhận khi bắt đầu lần chạy sau 3 lần thử, hoặc đã được ghi nhưng không "
           "đọc lại được để xác minh (`unverified`): `restore_errors` của summary.json, màn hình "
           "và báo cáo nêu tên thiết bị, tham số ô (cell), giá trị mong muốn và giá trị cuối "
           "cùng đọc được"),
)

_PASS_ALL = ("mọi chỉ tiêu đều Đạt",)
_CRITERIA_ONLY = ("chỉ các chỉ tiêu của nó (không có tiêu chí chấp nhận tích hợp: phép đo "
                  "không có chỉ tiêu nào bị từ chối khi kiểm tra kịch bản)")

KINDS_VI: Mapping[str, KindRules] = MappingProxyType({
    "throughput": KindRules(
        "thông lượng (iperf3 TCP/UDP)", _CRITERIA_ONLY,
        _rules(pass_=_PASS_ALL, fail=(), inconclusive=(),
               error=("iperf3 gặp lỗi hoặc không kết nối được tới máy chủ đo",)),
        ("IETF RFC 6349 (thông lượng TCP: hiệu suất, độ trễ do bộ đệm)",
         "QCVN 126:2021/BTTTT (bộ chỉ tiêu qcvn-126-2021: tỷ lệ các mẫu một giây, khoảng tin "
         "cậy Wilson; đơn vị lấy mẫu được nêu rõ)",
         "3GPP TS 38.306 §4.1.2 (peak() trong chỉ tiêu: tốc độ dữ liệu đỉnh; FR1/FR2 theo băng "
         "tần hoặc SCS của ô)",
         "tỷ lệ mất gói UDP tính trên số gói bên gửi; một gói chưa nhận được khi kết thúc phép "
         "đo, trừ 100 ms gửi cuối cùng, được tính là mất")),
    "latency": KindRules(
        "độ trễ (irtt; chỉ dùng ping khi được yêu cầu)", _CRITERIA_ONLY,
        _rules(pass_=_PASS_ALL, fail=(), inconclusive=(),
               error=("irtt chưa được cài trên máy phía UE (`tool: auto` nghĩa là irtt và "
                      "không bao giờ chuyển sang ping; `tool: ping` đo ICMP tới máy DN, "
                      "không đi qua mặt phẳng người dùng của gNodeB, và phép đo nêu rõ điều "
                      "đó)",)),
        ("IETF RFC 3550 (biến động trễ (jitter) giữa các gói đến)",
         "IETF RFC 3393 (biến thiên trễ giữa các gói, IPDV)",
         "ITU-R M.2410 (bộ chỉ tiêu itu-m2410-embb: đánh giá trên thời gian trễ khứ hồi (RTT), "
         "không phải độ trễ một chiều (one-way delay) của mạng truy nhập vô tuyến)")),
    "rfc2544": KindRules(
        "rfc2544 (tìm thông lượng không mất gói)",
        "phép đo xác nhận tốc độ tìm được (tích hợp) và các chỉ tiêu của nó",
        _rules(pass_=("tốc độ cao nhất không mất gói (hoặc trong `loss_tolerance`) đã được xác "
                      "nhận bằng một lần đo xác nhận, và mọi chỉ tiêu đều Đạt",),
               fail=(),
               inconclusive=("không xác nhận được tốc độ nào trong `max_iterations` lần: thông "
                             "lượng không được công bố và lịch sử tìm kiếm (các tốc độ đã thử, "
                             "tỷ lệ mất gói ở mỗi tốc độ) được nêu",),
               error=("một chỉ tiêu dùng thông lượng của một kích thước khung mà tốc độ chưa "
                      "được xác nhận (không có giá trị được công bố)",)),
        ("IETF RFC 2544 §26.1 (thông lượng), §26.2 (độ trễ), §26.3 (tỷ lệ mất khung)",)),
    "y1564": KindRules(
        "y1564 (kích hoạt dịch vụ)",
        "tiêu chí chấp nhận theo từng dịch vụ và từng bước (tích hợp) và các chỉ tiêu của nó",
        _rules(pass_=("mọi dịch vụ đạt tiêu chí chấp nhận (tốc độ thông tin trong dung sai "
                      "so với tốc độ của bước, FLR, FTD, FDV) ở mọi bước CIR/EIR/kiểm soát "
                      "lưu lượng (policing) và trong phép đo hiệu năng dịch vụ, và mọi chỉ "
                      "tiêu đều Đạt",),
               fail=("một dịch vụ không đạt tiêu chí chấp nhận ở một bước bất kỳ (kể cả bước "
                     "kiểm soát lưu lượng) hoặc trong phép đo hiệu năng dịch vụ",),
               inconclusive=("có đặt giới hạn FDV hoặc FTD nhưng không đo được độ trễ (không "
                             "chạy irtt song song với bước đo)",),
               error=()),
        ("ITU-T Y.1564 §8.2 (đo kiểm cấu hình dịch vụ), §8.3 (đo kiểm hiệu năng dịch vụ)",
         "FDV = P99 (hạng gần nhất) của độ trễ khung trừ độ trễ nhỏ nhất của bước "
         "(ITU-T Y.1563, Y.1541), không phải biến động trễ (jitter) theo RFC 3550")),
    "soak": KindRules(
        "soak (độ ổn định trong thời gian dài)", _CRITERIA_ONLY,
        _rules(pass_=_PASS_ALL, fail=(), inconclusive=(), error=()),
        ("độ sẵn sàng tính bằng tỷ lệ lần thăm dò thành công (khoảng tin cậy Wilson)",)),
    "sharing": KindRules(
        "sharing (tỷ lệ chia sẻ theo từng PLMN trong MOCN)", _CRITERIA_ONLY,
        _rules(pass_=_PASS_ALL, fail=(), inconclusive=(), error=()),
        ("3GPP TS 23.251 (dùng chung mạng truy nhập vô tuyến giữa nhiều nhà mạng, MOCN)",)),
    "firmware_upgrade": KindRules(
        "firmware_upgrade (nâng cấp phần sụn, khởi động lại, suy giảm so với kết quả gốc)",
        "việc thiết bị hoạt động trở lại, kiểm tra phiên bản và kịch bản con đo suy giảm "
        "(tích hợp) và các chỉ tiêu của nó",
        _rules(pass_=("với `expect: upgraded`: thiết bị hoạt động trở lại trong thời gian cho "
                      "phép và báo phiên bản mới; với `expect: refused`: thiết bị từ chối bản "
                      "cài đặt và giữ phiên bản cũ; và kết quả đánh giá của kịch bản con đo "
                      "suy giảm là Đạt",),
               fail=("thiết bị không hoạt động trở lại, báo một phiên bản khác phiên bản mong "
                     "đợi, nhận một bản cài đặt mà lẽ ra phải từ chối, hoặc kịch bản con đo "
                     "suy giảm Không đạt",),
               inconclusive=("kịch bản con đo suy giảm Chưa đủ cơ sở kết luận",),
               error=("kịch bản con đo suy giảm bị Lỗi (không đo được)",)),
        ("quy trình nghiệm thu nâng cấp phần mềm của nhà mạng",)),
})


def common(lang: str) -> Mapping[Verdict, tuple[str, ...]]:
    """The rules every kind shares, in Vietnamese (`vi`) or English (anything else)."""
    return COMMON_VI if lang == "vi" else COMMON


def kind(name: str, lang: str) -> KindRules | None:
    """A kind's rules in Vietnamese (`vi`) or English (anything else); None when unknown."""
    return (KINDS_VI if lang == "vi" else KINDS).get(name)
