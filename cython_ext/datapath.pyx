# cython: language_level=3
"""The node port's packet loop, compiled: sfu/webrtc/datapath_py.py is the spec.

Datagrams are read in batches (``recvmmsg``); SRTP and SRTCP from an authenticated source are
unprotected in place by libsrtp (pylibsrtp's own copy, called through function pointers: no
Python object per call) and handed to the peer's handler; everything else goes to the slow
path (the ICE-lite responder, DTLS). What the handlers send while a batch is processed is
protected into a send queue and leaves in one ``sendmmsg`` at the end of the batch, each
destination's equal-sized datagrams as one segmented send (UDP GSO, ``segment_runs``). ICE-TCP
streams' frames come in through ``receive`` (a batch each) and their peers' sends go to the
stream, protected in C like the rest.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, EIO, ENOBUFS, errno
from libc.stdint cimport uint8_t, uint16_t, uint64_t, uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy, memset
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from cython_ext.demux cimport RTCP, RTP, kind_of
from cython_ext.drops cimport DROP_INTERNAL_ERROR, DROP_SEND_FAILED, DROP_SRTP_UNPROTECT
from cython_ext.feedback cimport FeedbackReader
from cython_ext.ingest cimport Ingest
from cython_ext.rtp cimport Header, rewrite_into
from cython_ext.sendlog cimport SendLog
from cython_ext.sink cimport RtpSink
from cython_ext.sockets cimport (
    AF_INET, AF_INET6, CMSG_DATA, CMSG_FIRSTHDR, CMSG_LEN, CMSG_SPACE, MSG_DONTWAIT, SOL_UDP,
    UDP_SEGMENT, cmsghdr, iovec, mmsghdr, msghdr, ntohs, recvmmsg, sendmmsg, sendmsg,
    sockaddr_in, sockaddr_in6, sockaddr_storage, socklen_t,
)

import logging
import socket

logger = logging.getLogger("sfu.webrtc.datapath")


# srtp_err_status_t srtp_protect(srtp_t ctx, void *hdr, int *len) and its three siblings
ctypedef int (*srtp_fn)(void* ctx, void* hdr, int* length) noexcept nogil

cdef enum:
    BATCH = 32           # datagrams per recvmmsg
    SLOT = 2048          # bytes per datagram buffer: larger ones arrive truncated
    TRAILER = 148        # SRTCP index + longest tag + MKI (pylibsrtp's bound)
    QUEUE = 512          # protected datagrams waiting for the end of a batch
    PAUSE = 100          # datapath_py.PAUSE_MS
    SEGMENTS = 64        # datapath_py.MAX_SEGMENTS
    SEGMENT_BYTES = 65000  # datapath_py.MAX_SEGMENT_BYTES
    CONTROL = 3          # 8-byte words of CMSG_SPACE(sizeof(uint16_t)): a UDP_SEGMENT message


PAUSE_MS = PAUSE  # a read after a pause this long first asks may_read (see datapath_py)


cdef bytes _key(const sockaddr_storage* address):
    """The lookup key of a source: port and address bytes (the spec's host/port tuple)."""
    cdef const sockaddr_in* v4
    cdef const sockaddr_in6* v6
    cdef char buf[18]
    if address.ss_family == AF_INET:
        v4 = <const sockaddr_in*>address
        memcpy(buf, &v4.sin_port, 2)
        memcpy(buf + 2, &v4.sin_addr, 4)
        return PyBytes_FromStringAndSize(buf, 6)
    v6 = <const sockaddr_in6*>address
    memcpy(buf, &v6.sin6_port, 2)
    memcpy(buf + 2, &v6.sin6_addr, 16)
    return PyBytes_FromStringAndSize(buf, 18)


cdef tuple _address(const sockaddr_storage* address):
    """(host, port) as the socket module would give it, for the slow path."""
    cdef const sockaddr_in* v4
    cdef const sockaddr_in6* v6
    if address.ss_family == AF_INET:
        v4 = <const sockaddr_in*>address
        return (
            socket.inet_ntop(socket.AF_INET, PyBytes_FromStringAndSize(<char*>&v4.sin_addr, 4)),
            ntohs(v4.sin_port),
        )
    v6 = <const sockaddr_in6*>address
    return (
        socket.inet_ntop(socket.AF_INET6, PyBytes_FromStringAndSize(<char*>&v6.sin6_addr, 16)),
        ntohs(v6.sin6_port),
    )


def address_key(tuple address):
    """The key ``_key`` gives the sockaddr of ``address`` = (host, port)."""
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return int(port).to_bytes(2, "big") + socket.inet_pton(family, host)


def source_key(source):
    """An address's key, or a stream's own (datapath_py.Stream.key)."""
    return address_key(source) if isinstance(source, tuple) else source.key


def _compiled(method, cls):
    """The instance of ``cls`` whose bound method ``method`` is, or None."""
    owner = getattr(method, "__self__", None)
    return owner if isinstance(owner, cls) else None


cdef class Datapath


cdef class _Source:
    """An authenticated source address of a peer."""
    cdef Peer peer
    cdef long long last_rx_ms


cdef class Peer(RtpSink):
    """One peer connection's keys, handler and destination. See datapath_py.Peer.

    A handler whose ``on_rtp`` is a compiled ``Ingest``'s, or whose ``on_rtcp`` is a compiled
    ``FeedbackReader``'s, is called in C; what the compiled forwarders send to a Peer (an
    ``RtpSink``) goes into the batch without a Python call.
    """

    cdef Datapath _datapath
    cdef Ingest _ingest
    cdef FeedbackReader _feedback
    cdef void* _rx
    cdef void* _tx
    cdef object _rx_owner, _tx_owner  # the pylibsrtp sessions the pointers belong to
    cdef object _on_rtp, _on_rtcp, _on_drop
    cdef SendLog _send_log
    cdef sockaddr_storage _dest
    cdef socklen_t _dest_len
    cdef object _stream  # the destination when it is an ICE-TCP stream, else None
    cdef long long _round  # the datapath's send round of its last queued datagram
    cdef int _tail  # that datagram's queue slot

    def __init__(self, Datapath datapath, handler, on_drop):
        self._datapath = datapath
        self._on_rtp, self._on_rtcp, self._on_drop = handler.on_rtp, handler.on_rtcp, on_drop
        self._ingest = _compiled(handler.on_rtp, Ingest)
        self._feedback = _compiled(handler.on_rtcp, FeedbackReader)

    def set_keys(self, rx, tx):
        """The DTLS handshake's SRTP sessions (pylibsrtp); media flows from now on."""
        self._rx = <void*><uintptr_t>self._datapath._pointer_of(rx)
        self._tx = <void*><uintptr_t>self._datapath._pointer_of(tx)
        self._rx_owner, self._tx_owner = rx, tx

    def set_send_log(self, SendLog log):
        """Stamp the RTP this peer sends with transport-wide seqs (transport-cc) into ``log``."""
        self._send_log = log

    def set_destination(self, destination):
        """Where this peer's media goes (the ICE-lite transport's selected address or stream)."""
        cdef sockaddr_in* v4 = <sockaddr_in*>&self._dest
        cdef sockaddr_in6* v6 = <sockaddr_in6*>&self._dest
        cdef bytes key
        memset(&self._dest, 0, sizeof(sockaddr_storage))
        self._dest_len = 0
        self._stream = None
        if not isinstance(destination, tuple):
            self._stream = destination
            return
        key = address_key(destination)
        if len(key) == 6:
            v4.sin_family = AF_INET
            memcpy(&v4.sin_port, PyBytes_AS_STRING(key), 2)
            memcpy(&v4.sin_addr, PyBytes_AS_STRING(key) + 2, 4)
            self._dest_len = sizeof(sockaddr_in)
        else:
            v6.sin6_family = AF_INET6
            memcpy(&v6.sin6_port, PyBytes_AS_STRING(key), 2)
            memcpy(&v6.sin6_addr, PyBytes_AS_STRING(key) + 2, 16)
            self._dest_len = sizeof(sockaddr_in6)

    def send(self, bytes data not None, bint rtcp):
        """Protect and queue; False (and on_drop(SEND_FAILED)) when it cannot go."""
        return self._send(data, rtcp)

    def send_rtp(self, bytes data not None):
        return self._send(data, False)

    cdef bint _send_rtp(self, bytes data) except -1:
        return self._send(data, False)

    cdef Py_ssize_t _send_rewritten(
        self, const uint8_t* p, Py_ssize_t n, Py_ssize_t payload_offset, const Header* h
    ) except -1:
        """A forwarded packet rewritten straight into its send slot: no bytes object."""
        cdef Py_ssize_t length = self._datapath._queue_rewritten(self, p, n, payload_offset, h)
        if length < 0:
            self._on_drop(DROP_SEND_FAILED)
            return 0
        return length

    cdef bint _send(self, bytes data, bint rtcp) except -1:
        if self._datapath._queue(self, data, rtcp):
            return True
        self._on_drop(DROP_SEND_FAILED)
        return False

    def close(self):
        """Forget the keys: nothing more is sent or delivered for this peer."""
        self._rx = self._tx = NULL
        self._rx_owner = self._tx_owner = None
        self._dest_len = 0
        self._stream = None


cdef class Datapath:
    """The batched loop on one non-blocking UDP socket. See datapath_py.Datapath."""

    cdef int _fd
    cdef object _slow_path, _clock_ms, _may_read, _pointer_of
    cdef long long _read_ms
    cdef long long _sent_ms  # when the queued sends of a batch leave, for transport-cc
    cdef dict _sources
    cdef srtp_fn _protect, _protect_rtcp, _unprotect, _unprotect_rtcp
    cdef uint8_t* _in_bufs
    cdef uint8_t* _out_bufs
    cdef mmsghdr _in_msgs[BATCH]
    cdef iovec _in_iov[BATCH]
    cdef sockaddr_storage _in_addr[BATCH]
    # the queue, in slots: each datagram, its destination, the next slot of its peer
    cdef iovec _out_iov[QUEUE]
    cdef sockaddr_storage _out_addr[QUEUE]
    cdef socklen_t _out_namelen[QUEUE]
    cdef int _out_next[QUEUE]
    cdef int _heads[QUEUE]  # each peer's first slot, in the order the peers first queued
    cdef int _nheads
    cdef long long _round  # counts the flushes: a peer's chain is the round's
    cdef int _queued
    # what a flush sends: a message per run of a peer's datagrams (segment_runs)
    cdef mmsghdr _send_msgs[QUEUE]
    cdef iovec _send_iov[QUEUE]
    cdef int _send_count[QUEUE]
    cdef uint64_t _send_control[QUEUE * CONTROL]  # aligned as a cmsghdr must be
    cdef readonly int max_segments
    cdef bint _in_batch
    cdef int _max_batches
    cdef readonly long long wakeups, batches, datagrams, sent, send_failed, slow_path_errors
    cdef readonly long long coalesced

    def __cinit__(self, *args, **kwargs):
        self._in_bufs = <uint8_t*>malloc(BATCH * SLOT)
        self._out_bufs = <uint8_t*>malloc(QUEUE * SLOT)
        if self._in_bufs == NULL or self._out_bufs == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self._in_bufs)
        free(self._out_bufs)

    def __init__(
        self, sock, *, slow_path, libsrtp, pointer_of, clock_ms=None, may_read=None,
        int max_batches=8, int max_segments=SEGMENTS,
    ):
        cdef int i
        self._fd = sock.fileno()
        self._slow_path, self._clock_ms, self._pointer_of = slow_path, clock_ms, pointer_of
        self._may_read, self._read_ms = may_read, -PAUSE
        self._sources = {}
        protect, protect_rtcp, unprotect, unprotect_rtcp = libsrtp
        self._protect = <srtp_fn><uintptr_t>protect
        self._protect_rtcp = <srtp_fn><uintptr_t>protect_rtcp
        self._unprotect = <srtp_fn><uintptr_t>unprotect
        self._unprotect_rtcp = <srtp_fn><uintptr_t>unprotect_rtcp
        self._max_batches = max_batches
        self.max_segments = max(1, min(max_segments, SEGMENTS))
        try:
            sock.getsockopt(SOL_UDP, UDP_SEGMENT)
        except OSError:  # a kernel without it (before 4.18) would send each run as one datagram
            self.max_segments = 1
        self._round = 1  # a new peer's 0 is no round's
        memset(self._in_msgs, 0, sizeof(self._in_msgs))
        memset(self._send_msgs, 0, sizeof(self._send_msgs))
        for i in range(BATCH):
            self._in_iov[i].iov_base = self._in_bufs + i * SLOT
            self._in_msgs[i].msg_hdr.msg_iov = &self._in_iov[i]
            self._in_msgs[i].msg_hdr.msg_iovlen = 1
            self._in_msgs[i].msg_hdr.msg_name = &self._in_addr[i]
        for i in range(QUEUE):
            self._out_iov[i].iov_base = self._out_bufs + i * SLOT

    def peer(self, handler, on_drop):
        return Peer(self, handler, on_drop)

    def bind(self, source, Peer peer):
        entry = _Source()
        entry.peer, entry.last_rx_ms = peer, -1
        self._sources[source_key(source)] = entry

    def unbind(self, source):
        self._sources.pop(source_key(source), None)

    def last_received_ms(self, source):
        found = self._sources.get(source_key(source))
        return -1 if found is None else (<_Source>found).last_rx_ms

    def on_readable(self):
        """Drain the socket (bounded: max_batches reads), then send what was queued."""
        cdef int got, i, b
        cdef long long now_ms = self._now_ms()
        if now_ms - self._read_ms >= PAUSE and self._may_read is not None:
            if not self._may_read():
                return
        self._read_ms = self._sent_ms = now_ms
        self.wakeups += 1
        self._in_batch = True
        try:
            for b in range(self._max_batches):
                for i in range(BATCH):
                    self._in_iov[i].iov_len = SLOT
                    self._in_msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage)
                    self._in_msgs[i].msg_hdr.msg_flags = 0
                got = recvmmsg(self._fd, self._in_msgs, BATCH, MSG_DONTWAIT, NULL)
                if got <= 0:
                    break  # EAGAIN: drained (errors of unconnected UDP sockets are not ours)
                self.batches += 1
                self.datagrams += got
                for i in range(got):
                    self._dispatch(
                        self._in_bufs + i * SLOT, self._in_msgs[i].msg_len, &self._in_addr[i],
                        None, now_ms,
                    )
                if got < BATCH:
                    break
        finally:
            self._in_batch = False
            self._flush()

    def receive(self, list frames, stream):
        """A stream's frames, as one batch: what they cause to be sent leaves at its end."""
        cdef bytes frame
        cdef Py_ssize_t n
        cdef long long now_ms = self._now_ms()
        self._read_ms = self._sent_ms = now_ms
        self._in_batch = True
        try:
            for frame in frames:
                n = PyBytes_GET_SIZE(frame)
                if n > SLOT:
                    continue  # the stream's framing bounds frames well below this
                memcpy(self._in_bufs, PyBytes_AS_STRING(frame), n)  # unprotected in place
                self._dispatch(self._in_bufs, <int>n, NULL, stream, now_ms)
        finally:
            self._in_batch = False
            self._flush()

    def hold_sends(self):
        """See datapath_py.Datapath.hold_sends."""
        self._sent_ms = self._now_ms()
        self._in_batch = True

    def release_sends(self):
        self._in_batch = False
        self._flush()

    cdef long long _now_ms(self) except? -1:
        """sfu.media.clock.monotonic_ms (CLOCK_MONOTONIC, as time.monotonic_ns), or the clock
        given."""
        cdef timespec ts
        if self._clock_ms is not None:
            return self._clock_ms()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1000 + ts.tv_nsec // 1000000

    cdef void _dispatch(
        self, uint8_t* buf, int n, const sockaddr_storage* address, object stream,
        long long now_ms,
    ):
        """One datagram from ``address`` (a socket's) or, when that is NULL, from ``stream``."""
        cdef int length = n
        cdef int kind = kind_of(buf, n)
        cdef bint rtcp
        cdef _Source source
        cdef Peer peer
        if kind == RTP or kind == RTCP:
            found = self._sources.get(_key(address) if address != NULL else stream.key)
            if found is not None and (<_Source>found).peer._rx != NULL:
                source = <_Source>found
                peer = source.peer
                source.last_rx_ms = now_ms
                rtcp = kind == RTCP
                if (self._unprotect_rtcp if rtcp else self._unprotect)(peer._rx, buf, &length):
                    peer._on_drop(DROP_SRTP_UNPROTECT)
                    return
                plain = PyBytes_FromStringAndSize(<char*>buf, length)
                try:
                    if not rtcp and peer._ingest is not None:
                        peer._ingest._receive(plain, now_ms)
                    elif rtcp and peer._feedback is not None:
                        peer._feedback._receive(plain, now_ms)
                    else:
                        (peer._on_rtcp if rtcp else peer._on_rtp)(plain, now_ms)
                except Exception:
                    peer._on_drop(DROP_INTERNAL_ERROR)
                return
        try:
            self._slow_path(
                PyBytes_FromStringAndSize(<char*>buf, n),
                _address(address) if address != NULL else stream,
            )
        except Exception:  # a bug there must not cost the rest of the batch
            self.slow_path_errors += 1
            if self.slow_path_errors % 1000 == 1:
                logger.exception("slow path failed (%d times)", self.slow_path_errors)

    cdef bint _queue(self, Peer peer, bytes data, bint rtcp):
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef uint8_t* out
        if n > SLOT - TRAILER or not self._slot(peer):
            return False
        out = self._out_bufs + self._queued * SLOT
        memcpy(out, PyBytes_AS_STRING(data), n)
        return self._commit(peer, out, <int>n, rtcp)

    cdef Py_ssize_t _queue_rewritten(
        self, Peer peer, const uint8_t* p, Py_ssize_t n, Py_ssize_t payload_offset,
        const Header* h,
    ) except -2:
        """_queue of rewrite(p, n, payload_offset, h), written in the slot: its length if it
        went, -1 if it did not (too long, or refused as _queue refuses)."""
        cdef Py_ssize_t length
        cdef uint8_t* out
        if not self._slot(peer):
            return -1
        out = self._out_bufs + self._queued * SLOT
        length = rewrite_into(p, n, payload_offset, h, out, SLOT - TRAILER)
        if length == 0 or not self._commit(peer, out, <int>length, False):
            return -1
        return length

    cdef bint _slot(self, Peer peer) except -1:
        """Whether ``peer`` can send (keys, somewhere to): then the queue has a free slot."""
        if peer._tx == NULL or (peer._dest_len == 0 and peer._stream is None):
            return False
        if self._queued == QUEUE:
            self._flush()
            if self._in_batch:
                self._sent_ms = self._now_ms()  # what follows leaves after this send
        return True

    cdef bint _commit(self, Peer peer, uint8_t* out, int length, bint rtcp) except -1:
        """Stamp, protect and queue (or send, outside a batch) the packet in the free slot."""
        cdef int slot
        if not rtcp and peer._send_log is not None:
            # a batch's sends leave at its time, read at its start and after each send of a
            # full queue (a long batch must not look like a growing delay): not per packet
            peer._send_log._stamp(
                out, length, self._sent_ms if self._in_batch else self._now_ms()
            )
        if (self._protect_rtcp if rtcp else self._protect)(peer._tx, out, &length):
            return False
        if peer._stream is not None:  # the slot is reused: the stream keeps its own copy
            return peer._stream.send_frame(PyBytes_FromStringAndSize(<char*>out, length))
        slot = self._queued
        memcpy(&self._out_addr[slot], &peer._dest, peer._dest_len)
        self._out_namelen[slot] = peer._dest_len
        self._out_iov[slot].iov_len = length
        self._out_next[slot] = -1
        if peer._round == self._round:
            self._out_next[peer._tail] = slot
        else:
            peer._round = self._round
            self._heads[self._nheads] = slot
            self._nheads += 1
        peer._tail = slot
        self._queued += 1
        if not self._in_batch:
            self._flush()
        return True

    cdef void _flush(self) noexcept:
        """sendmmsg the queue, each run of a peer's datagrams as one message (segmented by the
        kernel); a datagram the kernel refuses (full buffer) is dropped, counted. A run refused
        otherwise is sent datagram by datagram; refused for the device (EIO), never segmented
        again."""
        cdef int messages = self._messages(), done = 0, sent, k
        while done < messages:
            sent = sendmmsg(self._fd, self._send_msgs + done, messages - done, 0)
            if sent > 0:
                for k in range(done, done + sent):
                    self.sent += self._send_count[k]
                    if self._send_count[k] > 1:
                        self.coalesced += self._send_count[k]
                done += sent
            elif errno != EINTR:
                if self._send_count[done] > 1 and errno != EAGAIN and errno != ENOBUFS:
                    if errno == EIO and self.max_segments > 1:
                        self.max_segments = 1
                        logger.warning("the device refuses segmented sends: one datagram each")
                    self._send_each(&self._send_msgs[done].msg_hdr)
                else:  # a full buffer would refuse the run's datagrams one by one as well
                    self.send_failed += self._send_count[done]
                done += 1
        self._queued = self._nheads = 0
        self._round += 1

    cdef int _messages(self) noexcept:
        """Fill the send messages from the queue: see datapath_py.segment_runs."""
        cdef int h, slot, first, count, m = 0, v = 0
        cdef size_t size, total, n
        cdef uint16_t segment
        cdef msghdr* hdr
        cdef cmsghdr* control
        for h in range(self._nheads):
            slot = self._heads[h]
            while slot >= 0:
                first, size, count, total = slot, self._out_iov[slot].iov_len, 0, 0
                hdr = &self._send_msgs[m].msg_hdr
                hdr.msg_name, hdr.msg_namelen = &self._out_addr[first], self._out_namelen[first]
                hdr.msg_iov = &self._send_iov[v]
                while slot >= 0:
                    n = self._out_iov[slot].iov_len
                    if count and (
                        n > size or count == self.max_segments or total + n > SEGMENT_BYTES
                        or self._out_namelen[slot] != self._out_namelen[first]
                        or memcmp(&self._out_addr[slot], &self._out_addr[first],
                                  self._out_namelen[first])
                    ):
                        break
                    self._send_iov[v] = self._out_iov[slot]
                    v += 1
                    count += 1
                    total += n
                    slot = self._out_next[slot]
                    if n < size:
                        break  # a shorter datagram can only be a run's last
                hdr.msg_iovlen = count
                if count > 1:
                    hdr.msg_control = &self._send_control[m * CONTROL]
                    hdr.msg_controllen = CMSG_SPACE(sizeof(uint16_t))
                    control = CMSG_FIRSTHDR(hdr)
                    control.cmsg_level, control.cmsg_type = SOL_UDP, UDP_SEGMENT
                    control.cmsg_len = CMSG_LEN(sizeof(uint16_t))
                    segment = <uint16_t>size
                    memcpy(CMSG_DATA(control), &segment, sizeof(uint16_t))
                else:
                    hdr.msg_control, hdr.msg_controllen = NULL, 0
                self._send_count[m] = count
                m += 1
        return m

    cdef void _send_each(self, const msghdr* run) noexcept:
        """A run's datagrams one by one."""
        cdef msghdr one
        cdef size_t i
        memset(&one, 0, sizeof(msghdr))
        one.msg_name, one.msg_namelen, one.msg_iovlen = run.msg_name, run.msg_namelen, 1
        for i in range(run.msg_iovlen):
            one.msg_iov = &run.msg_iov[i]
            while True:
                if sendmsg(self._fd, &one, 0) >= 0:
                    self.sent += 1
                    break
                if errno != EINTR:
                    self.send_failed += 1
                    break
