"""Reading datagrams in batches: recvmmsg(2) through ctypes, one system call for up to `count`.

Python's socket module has no recvmmsg; calling libc's through ctypes (as `harness.simlab.delay`
does for timerfd) keeps the relay pure Python. One `DatagramReader` serves every socket of a
relay: a read fills its arena (an anonymous mmap of `count` × 64 KiB slots, so any datagram
fits; only the pages written are ever backed by memory) and the datagrams are copied out at
once. Where libc or recvmmsg is missing, it reads one datagram per `recvfrom` call instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import mmap
import socket
import sys
import time

Address = tuple[str, int]
SLOT = 65_536  # bytes per datagram slot: more than any UDP payload
_NAME = 32  # bytes per source-address slot: a sockaddr_in6 is 28
_MSG_DONTWAIT = 0x40
_HDR_WORDS = 16  # struct mmsghdr is 64 bytes on LP64: msghdr (56) + msg_len + padding
_NAMELEN_WORD = 2  # msghdr.msg_namelen: byte offset 8
_LEN_WORD = 14  # mmsghdr.msg_len: byte offset 56
_CONTROLLEN_WORD = 10  # msghdr.msg_controllen (low half): byte offset 40
_CONTROL = 64  # bytes of ancillary data per datagram: one SCM_TIMESTAMPNS needs 32
_CMSG_TIMESTAMP_LEN = 32  # CMSG_LEN(sizeof(struct timespec))
SO_TIMESTAMPNS = 35  # asm-generic/socket.h: receive timestamps as struct timespec
_log = logging.getLogger("harness.simlab.udp_recv")


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.c_void_p), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint32)]


def _recvmmsg() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if ctypes.sizeof(_Mmsghdr) != _HDR_WORDS * 4:  # not the LP64 layout the offsets assume
        return None
    try:
        func = ctypes.CDLL(None, use_errno=True).recvmmsg
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                     ctypes.c_void_p]
    func.restype = ctypes.c_int
    return func


def _address(raw: bytes) -> Address:
    family = int.from_bytes(raw[:2], "little")
    port = int.from_bytes(raw[2:4], "big")
    if family == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, raw[8:24]), port
    return socket.inet_ntop(socket.AF_INET, raw[4:8]), port


SO_MEMINFO = 55  # linux/asm-generic/socket.h
_MEMINFO_DROPS = 8  # SK_MEMINFO_DROPS in linux/sock_diag.h


def socket_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped at `sock` so far (its receive queue was full: nobody read
    in time), or None where the kernel does not say."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 4 * (_MEMINFO_DROPS + 1))
    except OSError:
        return None
    if len(raw) < 4 * (_MEMINFO_DROPS + 1):
        return None
    return int.from_bytes(raw[4 * _MEMINFO_DROPS:4 * (_MEMINFO_DROPS + 1)], sys.byteorder)


def drops_since(sock: socket.socket, seen: int) -> tuple[int, int]:
    """(datagrams the kernel dropped at `sock` since it had dropped `seen`, its count now)."""
    now = socket_drops(sock)
    return (0, seen) if now is None else ((now - seen) & 0xFFFFFFFF, now)


def stamp_arrivals(sock: socket.socket) -> None:
    """Ask the kernel to timestamp each datagram `sock` receives (`DatagramReader` reads them)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


class DatagramReader:
    """Reads up to `count` datagrams from a non-blocking UDP socket per call.

    With each batch come the datagrams' arrival times in loop time (`time.monotonic`), from
    the kernel's timestamps where the socket asked for them (`stamp_arrivals`), else the time
    of the read: a relay that is late to read still admits each datagram at its arrival.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self._func = _recvmmsg()
        self._addresses: dict[bytes, Address] = {}
        if self._func is None:
            _log.debug("recvmmsg unavailable: reading one datagram per call")
            return
        self._arena = mmap.mmap(-1, count * SLOT)
        self._names = mmap.mmap(-1, count * _NAME)
        self._control = bytearray(count * _CONTROL)
        self._stamps = memoryview(self._control).cast("q")
        self._hdr_bytes = bytearray(count * _HDR_WORDS * 4)
        self._iov_bytes = bytearray(count * ctypes.sizeof(_Iovec))
        arena = ctypes.addressof(ctypes.c_char.from_buffer(self._arena))
        names = ctypes.addressof(ctypes.c_char.from_buffer(self._names))
        control = ctypes.addressof(ctypes.c_char.from_buffer(self._control))
        iovs = (_Iovec * count).from_buffer(self._iov_bytes)
        hdrs = (_Mmsghdr * count).from_buffer(self._hdr_bytes)
        for i in range(count):
            iovs[i].iov_base = arena + i * SLOT
            iovs[i].iov_len = SLOT
            hdr = hdrs[i].msg_hdr
            hdr.msg_iov = ctypes.addressof(iovs[i])
            hdr.msg_iovlen = 1
            hdr.msg_name = names + i * _NAME
            hdr.msg_namelen = _NAME
            hdr.msg_control = control + i * _CONTROL
            hdr.msg_controllen = _CONTROL
        self._hdr_ptr = ctypes.addressof(hdrs)
        self._words = memoryview(self._hdr_bytes).cast("I")
        self._keep = (iovs, hdrs)  # the arrays the headers point into

    def read(self, sock: socket.socket) -> tuple[list[bytes], list[float]]:
        """The datagrams waiting on a connected socket (up to `count`) and their arrivals."""
        if self._func is None:
            each = self._read_each(sock)
            now = time.monotonic()
            return [data for data, _ in each], [now] * len(each)
        k = self._call(sock)
        arena, words = self._arena, self._words
        datas = [arena[i * SLOT:i * SLOT + words[i * _HDR_WORDS + _LEN_WORD]] for i in range(k)]
        return datas, self._arrivals(k)

    def read_from(self, sock: socket.socket) -> dict[Address, tuple[list[bytes], list[float]]]:
        """The datagrams waiting on an unconnected socket by source address, in order, with
        their arrivals."""
        if self._func is None:
            now = time.monotonic()
            grouped: dict[Address, tuple[list[bytes], list[float]]] = {}
            for data, addr in self._read_each(sock):
                datas, times = grouped.setdefault(addr, ([], []))
                datas.append(data)
                times.append(now)
            return grouped
        k = self._call(sock)
        arena, words, names = self._arena, self._words, self._names
        arrivals = self._arrivals(k)
        addresses = self._addresses
        out: dict[Address, tuple[list[bytes], list[float]]] = {}
        last_raw = b""
        last_datas: list[bytes] = []
        last_times: list[float] = []
        for i in range(k):
            # A socket's source addresses all have one length (16 or 28 bytes), which the
            # kernel writes back: the headers need no reset between calls.
            raw = names[i * _NAME:i * _NAME + _NAME]
            data = arena[i * SLOT:i * SLOT + words[i * _HDR_WORDS + _LEN_WORD]]
            if raw != last_raw:
                known = addresses.get(raw)
                if known is None:
                    if len(addresses) > 65_536:
                        addresses.clear()
                    known = addresses[raw] = _address(raw)
                last_raw = raw
                last_datas, last_times = out.setdefault(known, ([], []))
            last_datas.append(data)
            last_times.append(arrivals[i])
        return out

    def _arrivals(self, k: int) -> list[float]:
        """Loop-time arrival of each of the `k` datagrams just read; resets the control sizes."""
        now = time.monotonic()
        offset = time.time() - now  # kernel stamps are CLOCK_REALTIME
        stamps, words = self._stamps, self._words
        out: list[float] = []
        for i in range(k):
            q = i * (_CONTROL // 8)
            w = i * _HDR_WORDS + _CONTROLLEN_WORD
            if words[w] >= _CMSG_TIMESTAMP_LEN and stamps[q] == _CMSG_TIMESTAMP_LEN:
                t = stamps[q + 2] + stamps[q + 3] * 1e-9 - offset
                out.append(t if t < now else now)
                stamps[q] = 0
            else:
                out.append(now)
            words[w] = _CONTROL
        return out

    def _call(self, sock: socket.socket) -> int:
        func = self._func
        if func is None:
            return 0
        k = int(func(sock.fileno(), self._hdr_ptr, self.count, _MSG_DONTWAIT, None))
        if k < 0:
            err = ctypes.get_errno()
            if err not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                # e.g. ECONNREFUSED: an ICMP error for an earlier datagram; nothing was read
                _log.debug("relay read error: %s", errno.errorcode.get(err, err))
            return 0
        return k

    def _read_each(self, sock: socket.socket) -> list[tuple[bytes, Address]]:
        out: list[tuple[bytes, Address]] = []
        for _ in range(self.count):
            try:
                data, addr = sock.recvfrom(SLOT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                _log.debug("relay read error: %s", exc)
                break
            out.append((data, addr[:2]))
        return out
