"""InfluxDB v2 write API through influxdb-client: where to write, how one body is posted, and
how a spool's pending lines are sent (batches, gzip, 413 splitting, acknowledgements).

The client is influxdb-client's generated `WriteService` (the v2 `/api/v2/write` call behind
`write_api`), handed ready line-protocol bodies: `write_api` would gzip at level 9, which costs
more CPU than the whole rest of the path; here bodies are gzipped at level 1 (or not at all on
loopback, where compression only costs time), and retries are ours, because the spool must
know exactly which batch a server acknowledged.
"""

from __future__ import annotations

import base64
import gzip
import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from harness.base.errors import ConfigError, HarnessError
from harness.base.schema import check_http_url
from harness.store.spool import Destination, Spool

if TYPE_CHECKING:
    from harness.config.lab import InfluxSettings

DEFAULT_BATCH_BYTES = 4 << 20  # ~20,000 points of ~200 bytes (413 answers are split)
CLOCK_SKEW_WARN_S = 60.0
ACK_SAVE_S = 0.25  # acknowledgement offsets are saved at least this often while sending


class ServerUnavailable(HarnessError):
    """The server could not be reached or answered 5xx/429: try again later."""


class WriteRefused(HarnessError):
    """The server answered 4xx: sending the same again will not help (token, org, bucket)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _TooLarge(Exception):
    """413: the body must be split."""


@dataclass(frozen=True)
class InfluxTarget:
    """A server to write to: destination, token (never shown), compression and timeout."""

    dest: Destination
    token: str | None = field(default=None, repr=False)
    gzip: bool | None = None  # None: compress unless the server is on loopback
    timeout_s: float = 10.0
    secrets: tuple[str, ...] = field(default=(), repr=False)  # others the run knows: masked

    def mask(self, text: str) -> str:
        """`text` with the token and every other known secret (and their base64 forms, as an
        echoed Authorization header would carry them) replaced by `***`."""
        return mask_secrets(text, (self.token, *self.secrets))

    @property
    def compress(self) -> bool:
        """Whether bodies are gzipped."""
        if self.gzip is not None:
            return self.gzip
        host = urlsplit(self.dest.url).hostname or ""
        if host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return True


def mask_secrets(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with each secret, plain or base64-encoded, replaced by `***` (longest first):
    server error bodies echo requests, headers included, and end up on screen and on disk."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.add(secret)
            forms.add(base64.b64encode(secret.encode()).decode().rstrip("="))
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def settings_for(settings: InfluxSettings | None, url: str | None) -> InfluxSettings | None:
    """A lab's `results.influxdb` when it names the server at `url` (or no `url` is given);
    None when it names another server, whose token must not go to this one."""
    if settings is None or url is None:
        return settings
    return settings if settings.url.rstrip("/") == url.rstrip("/") else None


def resolve_target(settings: InfluxSettings | None, *, url: str | None = None,
                   org: str | None = None, bucket: str | None = None,
                   environ: Mapping[str, str] | None = None,
                   secrets: Iterable[str] = ()) -> InfluxTarget | None:
    """The run's InfluxDB target: lab.yaml's `results.influxdb`, overridden field by field by
    --influx-url/--influx-org/--influx-bucket and the token by INFLUX_TOKEN. None when
    neither the lab nor the command line names a server."""
    environ = environ if environ is not None else {}
    url = url or (settings.url if settings else None)
    if url is None:
        if org or bucket:
            raise ConfigError("--influx-org/--influx-bucket need a server: give --influx-url "
                              "or results.influxdb.url in the lab")
        return None
    org = org or (settings.org if settings else None)
    bucket = bucket or (settings.bucket if settings else None)
    if not org or not bucket:
        raise ConfigError(f"InfluxDB at {url}: give the org and bucket (--influx-org, "
                          "--influx-bucket, or results.influxdb in the lab)")
    try:
        check_http_url(url)
    except ValueError as exc:
        raise ConfigError(f"InfluxDB url: {exc}") from None
    token = environ.get("INFLUX_TOKEN") or None
    if token is None and settings is not None and settings.token is not None:
        token = settings.token.reveal()
    return InfluxTarget(Destination(url.rstrip("/"), org, bucket), token,
                        secrets=tuple(s for s in secrets if s))


class InfluxWriter:
    """Posts line-protocol bodies to one server; raises ServerUnavailable or WriteRefused."""

    def __init__(self, target: InfluxTarget) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.service.write_service import WriteService

        self.target = target
        self._client = InfluxDBClient(url=target.dest.url, token=target.token or "",
                                      org=target.dest.org, timeout=int(target.timeout_s * 1000),
                                      enable_gzip=False, retries=False)
        self._service = WriteService(self._client.api_client)  # type: ignore[no-untyped-call]
        self.server_clock_skew_s: float | None = None

    def post(self, body: bytes) -> None:
        """Send one body of whole lines; returns when the server stored it."""
        from influxdb_client.rest import ApiException

        dest = self.target.dest
        extra: dict[str, Any] = {}
        if self.target.compress:
            body = gzip.compress(body, compresslevel=1, mtime=0)
            extra["content_encoding"] = "gzip"
        try:
            _, _, headers = self._service.post_write_with_http_info(  # type: ignore[no-untyped-call]
                org=dest.org, bucket=dest.bucket, body=body, precision="ns",
                content_type="text/plain; charset=utf-8", **extra)
        except ApiException as exc:
            status = int(exc.status or 0)
            detail = self.target.mask(_detail(exc.body) or str(exc.reason or ""))
            if status == 413:
                raise _TooLarge() from None
            if status == 0 or status == 429 or status >= 500:
                raise ServerUnavailable(f"{dest}: answered {status} {detail}".rstrip()) from None
            raise WriteRefused(_refusal(dest, status, detail), status) from None
        except (OSError, ValueError) as exc:
            raise ServerUnavailable(f"{dest}: {self.target.mask(_reason(exc))}") from None
        except Exception as exc:  # urllib3 errors derive from Exception, not OSError
            if type(exc).__module__.startswith("urllib3"):
                raise ServerUnavailable(f"{dest}: {self.target.mask(_reason(exc))}") from None
            raise
        self._note_clock(headers)

    def _note_clock(self, headers: Any) -> None:
        date = headers.get("Date") if headers is not None else None
        if not date:
            return
        try:
            server = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        self.server_clock_skew_s = server - time.time()

    def close(self) -> None:
        """Release connections."""
        self._client.close()  # type: ignore[no-untyped-call]


def _detail(body: object) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    return " ".join(text.split())[:300]


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", None) or exc)
    if "Connection refused" in text or "NewConnectionError" in text:
        return "connection refused (is the server running?)"
    if "timed out" in text.lower():
        return "timed out"
    return " ".join(text.split())[:200]


def _refusal(dest: Destination, status: int, detail: str) -> str:
    hint = {
        400: "the server could not take these lines",
        401: "the token was refused: set INFLUX_TOKEN or results.influxdb.token in the lab",
        403: "the token may not write to this bucket: give it write permission",
        404: f"no bucket '{dest.bucket}' in org '{dest.org}': create it or fix the name",
        422: "the points fall outside the bucket's retention period",
    }.get(status, "the server refused the write")
    return f"{dest} answered {status}: {hint}" + (f" ({detail})" if detail else "")


def post_split(writer: InfluxWriter, body: bytes) -> None:
    """Post `body`; on 413 (too large) post its halves, down to single lines."""
    try:
        writer.post(body)
    except _TooLarge:
        lines = body.count(b"\n")
        if lines <= 1:
            raise WriteRefused(f"{writer.target.dest} answered 413: a single line is larger "
                               "than the server accepts", 413) from None
        cut = body.find(b"\n", len(body) // 2 - 1) + 1
        if cut <= 0 or cut >= len(body):
            cut = body.find(b"\n") + 1
        post_split(writer, body[:cut])
        post_split(writer, body[cut:])


def send_pending(spool: Spool, writer: InfluxWriter, *, max_bytes: int = DEFAULT_BATCH_BYTES,
                 keep_going: Callable[[], bool] = lambda: True,
                 save_every_s: float = ACK_SAVE_S) -> int:
    """Send what `writer`'s destination has not acknowledged yet, batch by batch; returns the
    number of lines sent. Each acknowledgement is recorded at once and saved to disk at least
    every `save_every_s` and when this returns, also on an error (what was acknowledged stays
    acknowledged)."""
    dest = writer.target.dest
    sent = 0
    saved_at = time.monotonic()
    try:
        for end, body in spool.batches(dest, max_bytes):
            post_split(writer, body)
            now = time.monotonic()
            spool.ack(dest, end, persist=now - saved_at >= save_every_s)
            if now - saved_at >= save_every_s:
                saved_at = now
            sent += body.count(b"\n")
            if not keep_going():
                break
    finally:
        if sent:
            spool.save()
    return sent


def clock_warning(writer: InfluxWriter) -> str | None:
    """A warning when the server's clock and ours differ by more than a minute."""
    skew = writer.server_clock_skew_s
    if skew is None or abs(skew) <= CLOCK_SKEW_WARN_S:
        return None
    return (f"{writer.target.dest}: the server's clock differs from this machine's by "
            f"{skew:+.0f} s; points more than ~2 days ahead of the server's clock are dropped "
            "silently by some servers (VictoriaMetrics): fix the clocks (NTP)")
