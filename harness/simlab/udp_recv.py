"""Reading datagrams in batches: recvmmsg(2) through ctypes, one system call for up to `count`.

Python's socket module has no recvmmsg; calling libc's through ctypes (as `harness.simlab.delay`
does for timerfd) keeps the relay pure Python. One `DatagramReader` serves every socket of a
relay: a read fills its arena (an anonymous mmap of `count` × 64 KiB slots, so any datagram
fits; only the pages written are ever backed by memory) and the datagrams are copied out at
once. Where libc or recvmmsg is missing, it reads one datagram per `recvfrom` call instead.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import mmap
import socket

Address = tuple[str, int]
SLOT = 65_536  # bytes per datagram slot: more than any UDP payload
_NAME = 32  # bytes per source-address slot: a sockaddr_in6 is 28
_MSG_DONTWAIT = 0x40
_HDR_WORDS = 16  # struct mmsghdr is 64 bytes on LP64: msghdr (56) + msg_len + padding
_NAMELEN_WORD = 2  # msghdr.msg_namelen: byte offset 8
_LEN_WORD = 14  # mmsghdr.msg_len: byte offset 56
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


class DatagramReader:
    """Reads up to `count` datagrams from a non-blocking UDP socket per call."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._func = _recvmmsg()
        self._addresses: dict[bytes, Address] = {}
        if self._func is None:
            _log.debug("recvmmsg unavailable: reading one datagram per call")
            return
        self._arena = mmap.mmap(-1, count * SLOT)
        self._names = mmap.mmap(-1, count * _NAME)
        self._hdr_bytes = bytearray(count * _HDR_WORDS * 4)
        self._iov_bytes = bytearray(count * ctypes.sizeof(_Iovec))
        arena = ctypes.addressof(ctypes.c_char.from_buffer(self._arena))
        names = ctypes.addressof(ctypes.c_char.from_buffer(self._names))
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
        self._hdr_ptr = ctypes.addressof(hdrs)
        self._words = memoryview(self._hdr_bytes).cast("I")
        self._keep = (iovs, hdrs)  # the arrays the headers point into

    def read(self, sock: socket.socket) -> list[bytes]:
        """The datagrams waiting on a connected socket (up to `count`)."""
        if self._func is None:
            return [data for data, _ in self._read_each(sock)]
        k = self._call(sock)
        arena, words = self._arena, self._words
        return [arena[i * SLOT:i * SLOT + words[i * _HDR_WORDS + _LEN_WORD]] for i in range(k)]

    def read_from(self, sock: socket.socket) -> dict[Address, list[bytes]]:
        """The datagrams waiting on an unconnected socket, by source address, in order."""
        if self._func is None:
            grouped: dict[Address, list[bytes]] = {}
            for data, addr in self._read_each(sock):
                grouped.setdefault(addr, []).append(data)
            return grouped
        k = self._call(sock)
        arena, words, names = self._arena, self._words, self._names
        addresses = self._addresses
        out: dict[Address, list[bytes]] = {}
        last_raw, last = b"", []
        for i in range(k):
            # A socket's source addresses all have one length (16 or 28 bytes), which the
            # kernel writes back: the headers need no reset between calls.
            raw = names[i * _NAME:i * _NAME + _NAME]
            data = arena[i * SLOT:i * SLOT + words[i * _HDR_WORDS + _LEN_WORD]]
            if raw == last_raw:
                last.append(data)
                continue
            known = addresses.get(raw)
            if known is None:
                if len(addresses) > 65_536:
                    addresses.clear()
                known = addresses[raw] = _address(raw)
            last_raw, last = raw, out.setdefault(known, [])
            last.append(data)
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
