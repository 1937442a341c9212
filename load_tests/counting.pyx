# cython: language_level=3
"""The subscribers' receive path, compiled: load_tests/counting_py.py is the spec of what is
counted per packet, and the tests run both.

Per packet, Python through aiortc costs the generator more than forwarding costs the SFU, so
once a subscribe connection is up its socket leaves aioice's event-loop reader and joins one
epoll set per process (``Poller``): datagrams are read in batches (``recvmmsg``), SRTP is
unprotected in place by pylibsrtp's own libsrtp (function pointers, no Python object per packet)
and counted here. SRTCP from the SFU (its sender reports) is unprotected here too and handed to
the connection's report handler; the subscriber's own reports and feedback are protected and
sent from here. What is neither (STUN, DTLS) goes back to aioice and aiortc as before, so ICE
consent and DTLS alerts keep working.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport calloc, free, realloc
from libc.string cimport memcmp, memcpy, memset

from cython_ext.sockets cimport (
    AF_INET, MSG_DONTWAIT, MSG_TRUNC, htons, iovec, mmsghdr, msghdr, ntohs, recvmmsg, sockaddr_in,
    sockaddr_storage,
)

import socket

from load_tests import counting_py, rtp, transport_cc
from sfu.rtp import twcc
from load_tests.tally import StreamCount


cdef extern from "<sys/epoll.h>":
    ctypedef union epoll_data_t:
        uint64_t u64
    struct epoll_event:
        uint32_t events
        epoll_data_t data
    int epoll_create1(int flags)
    int epoll_ctl(int epfd, int op, int fd, epoll_event* event)
    int epoll_wait(int epfd, epoll_event* events, int maxevents, int timeout)
    int EPOLLIN
    int EPOLL_CTL_ADD
    int EPOLL_CTL_DEL
    int EPOLL_CLOEXEC


cdef extern from "<time.h>":
    struct timespec:
        long tv_sec
        long tv_nsec
    int clock_gettime(int clock, timespec* now)
    int CLOCK_MONOTONIC
    int CLOCK_REALTIME


cdef extern from "<sys/socket.h>":
    struct cmsghdr:
        size_t cmsg_len
        int cmsg_level
        int cmsg_type
    cmsghdr* CMSG_FIRSTHDR(msghdr* msg)
    cmsghdr* CMSG_NXTHDR(msghdr* msg, cmsghdr* cmsg)
    unsigned char* CMSG_DATA(cmsghdr* cmsg)
    int setsockopt(int fd, int level, int name, const void* value, unsigned int length)
    ssize_t sendto(
        int fd, const void* data, size_t n, int flags, const sockaddr_in* to, unsigned int length
    )
    int SOL_SOCKET
    int SO_TIMESTAMPNS
    int SO_RCVBUF
    int SCM_TIMESTAMPNS


cdef extern from "<unistd.h>":
    int close(int fd)


# srtp_err_status_t srtp_unprotect(srtp_t ctx, void *srtp_hdr, int *len_ptr)
ctypedef int (*srtp_fn)(void* ctx, void* hdr, int* length) noexcept

cdef enum:
    BATCH = 32  # datagrams per recvmmsg
    SLOT = 2048  # bytes per datagram buffer: larger ones arrive truncated
    EVENTS = 64  # ready sockets per epoll_wait
    # bytes an SRTCP packet may grow by when protected: libsrtp's SRTP_MAX_TRAILER_LEN (tag and
    # MKI) and the 4-byte index
    SRTCP_ROOM = 16 + 128 + 4
    PASSES = 4  # epoll_wait calls per drain: the event loop gets its turn even under a flood
    READS = 8  # recvmmsg batches per socket per pass
    RECEIVE_BUFFER = 1 << 20  # bytes asked per socket: a few publishers' keyframes between reads
    CONTROL = 64  # bytes of ancillary data per datagram: its receive time
    KIND_AUDIO = 1
    KIND_VIDEO = 2

# One source for the spec's constants.
cdef int64_t FREEZE_NS = counting_py.FREEZE_NS
cdef int64_t DELAY_BIN_NS = counting_py.DELAY_BIN_NS
cdef int64_t DELAY_BINS = counting_py.DELAY_BINS
cdef int64_t AUDIO_RATE = counting_py.CLOCK_RATES["audio"]
cdef int64_t VIDEO_RATE = counting_py.CLOCK_RATES["video"]
cdef Py_ssize_t ARRIVALS = counting_py.ARRIVALS
cdef uint32_t ONE_BYTE_PROFILE = rtp.ONE_BYTE_PROFILE
cdef enum:
    MAX_SEQS = 500  # transport_cc.MAX_SEQS: the feedback buffers' size
if transport_cc.MAX_SEQS != MAX_SEQS:
    raise ImportError("load_tests.counting: MAX_SEQS differs from transport_cc's; rebuild it")
cdef int64_t MAX_TICKS = transport_cc.MAX_TICKS
cdef int64_t REFERENCE_UNIT_US = twcc.REFERENCE_UNIT_US
cdef int64_t DELTA_UNIT_US = twcc.DELTA_UNIT_US
cdef int64_t NOT_ARRIVED = -(1 << 62)  # a seq's slot before its packet is found
cdef bytes TRAILER_MAGIC = rtp.TRAILER_MAGIC


cdef inline int64_t floor_div(int64_t a, int64_t b) noexcept:
    """Python's ``//`` (C's ``/`` truncates towards zero)."""
    cdef int64_t q = a / b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef inline void put16(uint8_t* p, uint32_t v) noexcept:
    p[0] = (v >> 8) & 0xFF
    p[1] = v & 0xFF


cdef inline void put32(uint8_t* p, uint32_t v) noexcept:
    put16(p, v >> 16)
    put16(p + 2, v & 0xFFFF)


cdef Py_ssize_t chunks(const uint8_t* symbols, Py_ssize_t n, uint8_t* out) noexcept:
    """sfu.rtp.twcc's greedy chunking of ``symbols`` into ``out``; the bytes written."""
    cdef Py_ssize_t i = 0, run, k, written = 0, end
    cdef uint32_t chunk
    cdef bint large
    while i < n:
        run = 1
        while i + run < n and run < 0x1FFF and symbols[i + run] == symbols[i]:
            run += 1
        if run >= 14 or i + run == n:
            chunk = <uint32_t>symbols[i] << 13 | <uint32_t>run
            i += run
        else:
            end = min(i + 14, n)
            large = False
            for k in range(i, end):
                large = large or symbols[k] == 2
            chunk = 0
            if not large:
                for k in range(i, end):
                    chunk |= <uint32_t>symbols[k] << (13 - (k - i))
                chunk |= 0x8000
                i += 14
            else:
                for k in range(i, min(i + 7, n)):
                    chunk |= <uint32_t>symbols[k] << (12 - 2 * (k - i))
                chunk |= 0xC000
                i += 7
        put16(out + written, chunk)
        written += 2
    return written


cdef bytes feedback_packet(
    const uint8_t* symbols, Py_ssize_t count, const uint8_t* deltas, Py_ssize_t n_deltas,
    uint32_t base_seq, int64_t reference, uint32_t feedback_count, uint32_t sender_ssrc,
    uint32_t media_ssrc,
):
    """One RTCP transport-cc packet on ``count`` seqs from ``base_seq``, their status symbols
    and receive deltas as written: sfu.rtp.rtcp.build_transport_feedback."""
    cdef uint8_t packet[20 + 4 * MAX_SEQS + 4]  # headers and SSRCs, chunks and deltas
    cdef Py_ssize_t at
    put32(packet + 4, sender_ssrc)
    put32(packet + 8, media_ssrc)
    put16(packet + 12, base_seq & 0xFFFF)
    put16(packet + 14, <uint32_t>count)
    put32(packet + 16, <uint32_t>((reference & 0xFFFFFF) << 8 | (feedback_count & 0xFF)))
    at = 20 + chunks(symbols, count, packet + 20)
    memcpy(packet + at, deltas, n_deltas)
    at += n_deltas
    while at % 4:
        packet[at] = 0
        at += 1
    packet[0], packet[1] = 0x80 | 15, 205
    put16(packet + 2, <uint32_t>(at // 4 - 1))
    return PyBytes_FromStringAndSize(<char*>packet, at)


cdef inline uint32_t be16(const uint8_t* p) noexcept:
    return (<uint32_t>p[0] << 8) | p[1]


cdef inline uint32_t be32(const uint8_t* p) noexcept:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline int64_t clock_ns(int clock) noexcept:
    cdef timespec now
    clock_gettime(clock, &now)
    return <int64_t>now.tv_sec * 1_000_000_000 + now.tv_nsec


cdef int64_t received_ns(msghdr* msg, int64_t realtime_to_monotonic, int64_t default) noexcept:
    """When the kernel queued the datagram on the socket (SO_TIMESTAMPNS, on the realtime clock),
    as monotonic ns; ``default`` if it attached no time."""
    cdef cmsghdr* cmsg = CMSG_FIRSTHDR(msg)
    cdef timespec* at
    while cmsg != NULL:
        if cmsg.cmsg_level == SOL_SOCKET and cmsg.cmsg_type == SCM_TIMESTAMPNS:
            at = <timespec*>CMSG_DATA(cmsg)
            return <int64_t>at.tv_sec * 1_000_000_000 + at.tv_nsec - realtime_to_monotonic
        cmsg = CMSG_NXTHDR(msg, cmsg)
    return default


cdef int64_t vp8_keyframe_height(const uint8_t* d, Py_ssize_t n, Py_ssize_t offset) noexcept:
    """The spec's ``vp8_keyframe_height``; -1 for None."""
    cdef uint8_t first, ext
    if n <= offset + 1:
        return -1
    first = d[offset]
    if not first & 0x10 or first & 0x07:
        return -1
    offset += 1
    if first & 0x80:
        ext = d[offset]
        offset += 1
        if ext & 0x80:
            if n <= offset:
                return -1
            offset += 2 if d[offset] & 0x80 else 1
        if ext & 0x40:
            offset += 1
        if ext & 0x30:
            offset += 1
    if (
        n < offset + 10
        or d[offset] & 1
        or d[offset + 3] != 0x9D or d[offset + 4] != 0x01 or d[offset + 5] != 0x2A
    ):
        return -1
    return (d[offset + 8] | (<int64_t>d[offset + 9] << 8)) & 0x3FFF


cdef int32_t transport_seq(const uint8_t* d, Py_ssize_t start, int ext_id) noexcept:
    """The spec's ``one_byte_extension`` for a 2-byte value, given where the extension block
    ends (``start``): the seq, -1 when absent or of another length, -2 when malformed."""
    cdef Py_ssize_t at = 12 + 4 * (d[0] & 0x0F), pos
    cdef int element, length
    cdef int32_t found = -1
    cdef bint seen = False
    if not d[0] & 0x10 or be16(d + at) != ONE_BYTE_PROFILE:
        return -1
    pos = at + 4
    while pos < start:
        element, length = d[pos] >> 4, (d[pos] & 0x0F) + 1
        if element == 0:  # padding
            pos += 1
            continue
        if element == 15:  # reserved: the block ends here
            break
        if pos + 1 + length > start:
            return -2
        if element == ext_id and not seen:
            seen = True
            if length == 2:
                found = be16(d + pos + 1)
        pos += 1 + length
    return found


cdef struct Stream:
    uint32_t ssrc
    int kind
    int64_t packets, bytes, frames, freezes, layer_switches, height
    int64_t first_seq, highest, last_frame_ns
    double jitter
    int64_t transit  # -1: none yet
    int64_t base_packets, base_expected, base_bytes, base_frames


cdef inline int64_t expected(const Stream* s) noexcept:
    return 0 if s.first_seq < 0 else s.highest - s.first_seq + 1


cdef class DelayHistogram:
    cdef int64_t* bins

    def __cinit__(self):
        self.bins = <int64_t*>calloc(DELAY_BINS, sizeof(int64_t))
        if self.bins == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.bins)

    cdef inline void add_ns(self, int64_t delay_ns) noexcept:
        cdef int64_t index = (delay_ns if delay_ns > 0 else 0) // DELAY_BIN_NS
        self.bins[index if index < DELAY_BINS else DELAY_BINS - 1] += 1

    def add(self, int64_t delay_ns):
        self.add_ns(delay_ns)

    def nonzero(self):
        cdef Py_ssize_t i
        return {i: self.bins[i] for i in range(DELAY_BINS) if self.bins[i]}


cdef class Receiver:
    cdef Stream* streams
    cdef Py_ssize_t count_, capacity
    cdef uint8_t kinds[128]
    cdef readonly DelayHistogram delays
    cdef public bint recording
    cdef public int64_t first_packet_ns
    cdef public int64_t malformed
    cdef int tcc_id
    cdef int64_t* tcc_us  # ARRIVALS arrival times, then their seqs: one block, once an id is set
    cdef uint16_t* tcc_seqs
    cdef Py_ssize_t tcc_count
    cdef public int64_t transport_cc_overflow
    cdef int32_t tcc_next  # the first seq the next feedback reports; -1 before the first
    cdef uint32_t tcc_feedbacks  # feedback packets built

    def __cinit__(self, DelayHistogram delays not None):
        self.delays = delays
        memset(self.kinds, 0, sizeof(self.kinds))
        self.tcc_next = -1

    def __dealloc__(self):
        free(self.streams)
        free(self.tcc_us)

    @property
    def transport_cc_id(self):
        return self.tcc_id

    @transport_cc_id.setter
    def transport_cc_id(self, int value):
        if value and self.tcc_us == NULL:
            self.tcc_us = <int64_t*>calloc(ARRIVALS, sizeof(int64_t) + sizeof(uint16_t))
            if self.tcc_us == NULL:
                raise MemoryError()
            self.tcc_seqs = <uint16_t*>(self.tcc_us + ARRIVALS)
        self.tcc_id = value

    def take_arrivals(self):
        cdef Py_ssize_t i
        taken = [(self.tcc_seqs[i], self.tcc_us[i]) for i in range(self.tcc_count)]
        self.tcc_count = 0
        return taken

    def transport_feedback(self, uint32_t sender_ssrc, uint32_t media_ssrc):
        """See counting_py.Receiver.transport_feedback."""
        cdef Py_ssize_t n = self.tcc_count, i, highest = -1, start, stop, n_deltas
        cdef int32_t base, lowest, offset
        cdef int64_t reference, origin, ticks, last, delta
        cdef int64_t* slots
        cdef uint8_t symbols[MAX_SEQS]
        cdef uint8_t deltas[2 * MAX_SEQS]
        cdef list packets = []
        self.tcc_count = 0
        if n == 0:
            return packets
        if self.tcc_next >= 0:
            base = self.tcc_next
        else:
            lowest = 0
            for i in range(n):
                lowest = min(lowest, ((self.tcc_seqs[i] - self.tcc_seqs[0] + 0x8000) & 0xFFFF) - 0x8000)
            base = (self.tcc_seqs[0] + lowest) & 0xFFFF
        for i in range(n):
            offset = (self.tcc_seqs[i] - base) & 0xFFFF
            if offset < 0x8000:  # else older than the base: reported as lost already
                highest = max(highest, offset)
        if highest < 0:
            return packets
        slots = <int64_t*>calloc(highest + 1, sizeof(int64_t))
        if slots == NULL:
            raise MemoryError()
        try:
            for i in range(highest + 1):
                slots[i] = NOT_ARRIVED
            for i in range(n):
                offset = (self.tcc_seqs[i] - base) & 0xFFFF
                if offset < 0x8000 and slots[offset] == NOT_ARRIVED:
                    slots[offset] = self.tcc_us[i]
            start = 0
            while start <= highest:
                i = start
                while slots[i] == NOT_ARRIVED:
                    i += 1
                reference = floor_div(slots[i], REFERENCE_UNIT_US)
                origin = reference * REFERENCE_UNIT_US
                stop, last, n_deltas = start, 0, 0
                while stop <= highest and stop - start < MAX_SEQS:
                    if slots[stop] == NOT_ARRIVED:
                        symbols[stop - start] = 0
                    else:
                        ticks = floor_div(slots[stop] - origin + DELTA_UNIT_US // 2, DELTA_UNIT_US)
                        delta = ticks - last
                        if abs(delta) > MAX_TICKS:
                            break  # the next packet starts here
                        last = ticks
                        if 0 <= delta <= 0xFF:
                            symbols[stop - start] = 1
                            deltas[n_deltas] = <uint8_t>delta
                            n_deltas += 1
                        else:
                            symbols[stop - start] = 2
                            put16(deltas + n_deltas, <uint32_t>(delta & 0xFFFF))
                            n_deltas += 2
                    stop += 1
                packets.append(feedback_packet(
                    symbols, stop - start, deltas, n_deltas, (base + start) & 0xFFFF, reference,
                    self.tcc_feedbacks, sender_ssrc, media_ssrc,
                ))
                self.tcc_feedbacks = (self.tcc_feedbacks + 1) & 0xFF
                start = stop
        finally:
            free(slots)
        self.tcc_next = (base + highest + 1) & 0xFFFF
        return packets

    def add_kinds(self, dict kinds):
        for pt, kind in kinds.items():
            self.kinds[pt & 0x7F] = KIND_VIDEO if kind == "video" else KIND_AUDIO

    def on_rtp(self, bytes data not None, int64_t now_ns):
        self.count(<const uint8_t*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), now_ns)

    cdef Stream* stream(self, uint32_t ssrc, uint8_t pt, int64_t now_ns) noexcept:
        cdef Py_ssize_t i
        cdef Stream* grown
        cdef Stream* s
        for i in range(self.count_):
            if self.streams[i].ssrc == ssrc:
                return &self.streams[i]
        if not self.kinds[pt]:  # padding or a probe on another payload type
            return NULL
        if self.count_ == self.capacity:
            grown = <Stream*>realloc(self.streams, (2 * self.capacity + 8) * sizeof(Stream))
            if grown == NULL:
                return NULL
            self.streams, self.capacity = grown, 2 * self.capacity + 8
        s = &self.streams[self.count_]
        self.count_ += 1
        memset(s, 0, sizeof(Stream))
        s.ssrc, s.kind = ssrc, self.kinds[pt]
        s.first_seq = s.highest = s.transit = -1
        if not self.first_packet_ns:
            self.first_packet_ns = now_ns
        return s

    cdef void count(self, const uint8_t* d, Py_ssize_t n, int64_t now_ns) noexcept:
        cdef Py_ssize_t start, end
        cdef int64_t send_ns = 0, height, arrival, transit
        cdef uint32_t seq, delta
        cdef int64_t d_transit
        cdef int32_t tcc_seq
        cdef Stream* s
        if n < 12 or d[0] >> 6 != 2:
            self.malformed += 1
            return
        start = 12 + 4 * (d[0] & 0x0F)
        if d[0] & 0x10:
            if n < start + 4:
                self.malformed += 1
                return
            start += 4 + 4 * be16(d + start + 2)
        end = n - (d[n - 1] if d[0] & 0x20 else 0)
        if start > end:
            self.malformed += 1
            return
        if self.tcc_id:
            tcc_seq = transport_seq(d, start, self.tcc_id)
            if tcc_seq == -2:
                self.malformed += 1
                return
            if tcc_seq >= 0 and self.tcc_count == ARRIVALS:
                self.transport_cc_overflow += 1
            elif tcc_seq >= 0:
                self.tcc_seqs[self.tcc_count] = <uint16_t>tcc_seq
                self.tcc_us[self.tcc_count] = now_ns // 1000
                self.tcc_count += 1
        if end - start >= 12 and memcmp(d + end - 12, PyBytes_AS_STRING(TRAILER_MAGIC), 4) == 0:
            send_ns = (<int64_t>be32(d + end - 8) << 32) | be32(d + end - 4)
        s = self.stream(be32(d + 8), d[1] & 0x7F, now_ns)
        if s == NULL:
            return
        s.packets += 1
        s.bytes += n
        seq = be16(d + 2)
        if s.highest < 0:
            s.first_seq = s.highest = seq
        else:
            delta = (seq - <uint32_t>s.highest) & 0xFFFF
            if 0 < delta < 0x8000:
                s.highest += delta
        arrival = now_ns // 1000 * (VIDEO_RATE if s.kind == KIND_VIDEO else AUDIO_RATE) // 1_000_000
        transit = <uint32_t>(arrival - be32(d + 4))
        if s.transit >= 0:
            d_transit = <int32_t><uint32_t>(transit - s.transit)
            s.jitter += ((d_transit if d_transit >= 0 else -d_transit) - s.jitter) / 16
        s.transit = transit
        if self.recording and send_ns:
            self.delays.add_ns(now_ns - send_ns)
        if s.kind != KIND_VIDEO:
            s.frames += 1
            return
        height = vp8_keyframe_height(d, n, start)
        if height >= 0 and height != s.height:
            s.layer_switches += s.height != 0
            s.height = height
        if d[1] & 0x80:
            if self.recording and s.last_frame_ns and now_ns - s.last_frame_ns > FREEZE_NS:
                s.freezes += 1
            s.frames += 1
            s.last_frame_ns = now_ns

    def start_window(self):
        cdef Py_ssize_t i
        cdef Stream* s
        self.recording = True
        for i in range(self.count_):
            s = &self.streams[i]
            s.base_packets, s.base_expected = s.packets, expected(s)
            s.base_bytes, s.base_frames = s.bytes, s.frames

    def stop(self):
        self.recording = False

    def window(self):
        cdef Py_ssize_t i
        cdef Stream* s
        out = []
        for i in range(self.count_):
            s = &self.streams[i]
            out.append(
                StreamCount(
                    kind="video" if s.kind == KIND_VIDEO else "audio",
                    height=s.height,
                    packets=s.packets - s.base_packets,
                    bytes=s.bytes - s.base_bytes,
                    expected=expected(s) - s.base_expected,
                    frames=s.frames - s.base_frames,
                    freezes=s.freezes,
                    layer_switches=s.layer_switches,
                )
            )
        return out

    def reports(self):
        cdef Py_ssize_t i
        return [
            counting_py.StreamReport(
                self.streams[i].ssrc,
                self.streams[i].packets,
                expected(&self.streams[i]),
                self.streams[i].highest,
                <int64_t>self.streams[i].jitter,
            )
            for i in range(self.count_)
        ]


cdef class _Connection:
    """A subscribe socket the Poller took over, and what its datagrams go to."""

    cdef int fd
    cdef Receiver receiver
    cdef object on_rtcp
    cdef void* receive_srtp
    cdef void* send_srtp
    cdef sockaddr_in peer
    cdef object keep  # what the two srtp_t belong to


cdef class Poller:
    """One epoll set for the subscribe sockets of a process. ``drain`` counts every SRTP packet
    waiting on them, hands every SRTCP one, decrypted, to its connection's ``on_rtcp``, and
    returns the rest as (token, datagram, (host, port)); ``send_rtcp`` protects and sends a
    connection's own RTCP."""

    cdef int epfd
    cdef srtp_fn protect_rtcp, unprotect, unprotect_rtcp
    cdef dict entries  # token -> _Connection
    cdef uint32_t next_token
    cdef uint8_t* buffers
    cdef uint8_t controls[BATCH][CONTROL]
    cdef mmsghdr msgs[BATCH]
    cdef iovec iov[BATCH]
    cdef sockaddr_storage addrs[BATCH]
    cdef uint8_t outgoing[SLOT]
    cdef readonly int64_t datagrams, reads, send_failures

    def __cinit__(self, tuple functions not None):
        """``functions``: ``sfu.webrtc.libsrtp.functions()``."""
        cdef int j
        self.epfd = -1
        self.buffers = <uint8_t*>calloc(BATCH, SLOT)
        if self.buffers == NULL:
            raise MemoryError()
        self.epfd = epoll_create1(EPOLL_CLOEXEC)
        if self.epfd < 0:
            raise OSError("epoll_create1 failed")
        _, protect_rtcp, unprotect, unprotect_rtcp = functions
        self.protect_rtcp = <srtp_fn><uintptr_t>protect_rtcp
        self.unprotect = <srtp_fn><uintptr_t>unprotect
        self.unprotect_rtcp = <srtp_fn><uintptr_t>unprotect_rtcp
        self.entries = {}
        self.next_token = 1
        memset(self.msgs, 0, sizeof(self.msgs))
        for j in range(BATCH):
            self.iov[j].iov_base = self.buffers + j * SLOT
            self.iov[j].iov_len = SLOT
            self.msgs[j].msg_hdr.msg_iov = &self.iov[j]
            self.msgs[j].msg_hdr.msg_iovlen = 1
            self.msgs[j].msg_hdr.msg_name = &self.addrs[j]
            self.msgs[j].msg_hdr.msg_control = self.controls[j]

    def __dealloc__(self):
        free(self.buffers)
        if self.epfd >= 0:
            close(self.epfd)

    def fileno(self):
        return self.epfd

    def add(
        self,
        int fd,
        Receiver receiver not None,
        object on_rtcp,
        uintptr_t receive_srtp,
        uintptr_t send_srtp,
        tuple peer not None,
        object keep,
    ):
        """A connected subscribe socket, taken over: ``remove`` closes ``fd``. What arrives is
        counted by ``receiver``; SRTCP goes, decrypted, to ``on_rtcp(bytes, arrival_ns)``
        (monotonic, the kernel's receive time), which must neither drain nor remove: it runs
        inside a batch. ``send_rtcp`` sends to ``peer`` (IPv4 host, port). ``keep`` holds what
        the two ``srtp_t`` belong to. Returns the connection's token."""
        cdef epoll_event event
        cdef uint32_t token = self.next_token
        cdef int on = 1, buffer = RECEIVE_BUFFER
        cdef _Connection connection = _Connection()
        connection.fd, connection.receiver, connection.on_rtcp = fd, receiver, on_rtcp
        connection.receive_srtp = <void*>receive_srtp
        connection.send_srtp = <void*>send_srtp
        connection.keep = keep
        connection.peer.sin_family = AF_INET
        connection.peer.sin_port = htons(peer[1])
        memcpy(&connection.peer.sin_addr, PyBytes_AS_STRING(socket.inet_aton(peer[0])), 4)
        # A packet arrives when the kernel queues it on the subscriber's socket, not when this
        # process gets a turn to read it: the generator shares the machine's cores with the SFU,
        # and its own scheduling delay is neither the SFU's nor the path's.
        if setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) < 0:
            raise OSError(f"setsockopt SO_TIMESTAMPNS: cannot stamp fd {fd}")
        # The kernel caps it at net.core.rmem_max (and doubles it): a larger one only helps.
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer))
        event.events = EPOLLIN
        event.data.u64 = token
        if epoll_ctl(self.epfd, EPOLL_CTL_ADD, fd, &event) < 0:
            raise OSError(f"epoll_ctl: cannot add fd {fd}")
        self.next_token += 1
        self.entries[token] = connection
        return token

    def remove(self, uint32_t token):
        cdef _Connection connection = self.entries.pop(token, None)
        if connection is not None:
            epoll_ctl(self.epfd, EPOLL_CTL_DEL, connection.fd, NULL)
            close(connection.fd)

    def drain(self):
        cdef epoll_event events[EVENTS]
        cdef int ready = EVENTS, i, passes = 0
        cdef list slow = []
        cdef _Connection connection
        while ready == EVENTS and passes < PASSES:
            passes += 1
            ready = epoll_wait(self.epfd, events, EVENTS, 0)
            for i in range(ready):
                connection = self.entries.get(<uint32_t>events[i].data.u64)
                if connection is not None:
                    self.read(<uint32_t>events[i].data.u64, connection, slow)
        return slow

    def send_rtcp(self, uint32_t token, list packets not None):
        """Protect and send RTCP packets on a connection (none once it is removed); returns how
        many left. One that cannot be protected or sent counts in ``send_failures``."""
        cdef Py_ssize_t length
        cdef int protected
        cdef int sent = 0
        cdef bytes packet
        cdef _Connection connection = self.entries.get(token)
        if connection is None:
            return 0
        for packet in packets:
            if packet is None:
                raise TypeError("an RTCP packet is bytes, not None")
            length = PyBytes_GET_SIZE(packet)
            if length > SLOT - SRTCP_ROOM:
                self.send_failures += 1
                continue
            memcpy(self.outgoing, PyBytes_AS_STRING(packet), length)
            protected = <int>length
            if (
                self.protect_rtcp(connection.send_srtp, self.outgoing, &protected) != 0
                or sendto(
                    connection.fd, self.outgoing, protected, 0, &connection.peer,
                    sizeof(sockaddr_in),
                )
                != protected
            ):
                self.send_failures += 1
            else:
                sent += 1
        return sent

    cdef void read(self, uint32_t token, _Connection connection, list slow):
        cdef int got, j, length, batch
        cdef Receiver receiver = connection.receiver
        cdef uint8_t* data
        cdef int64_t now_ns, offset_ns
        for batch in range(READS):
            for j in range(BATCH):  # what the kernel wrote back last time
                self.msgs[j].msg_hdr.msg_namelen = sizeof(sockaddr_storage)
                self.msgs[j].msg_hdr.msg_controllen = CONTROL
                self.msgs[j].msg_hdr.msg_flags = 0
            got = recvmmsg(connection.fd, self.msgs, BATCH, MSG_DONTWAIT, NULL)
            if got <= 0:
                return
            self.reads += 1
            self.datagrams += got
            now_ns = clock_ns(CLOCK_MONOTONIC)
            offset_ns = clock_ns(CLOCK_REALTIME) - now_ns
            for j in range(got):
                data = self.buffers + j * SLOT
                length = self.msgs[j].msg_len
                if self.msgs[j].msg_hdr.msg_flags & MSG_TRUNC:
                    receiver.malformed += 1
                elif length >= 12 and 127 < data[0] < 192 and not 192 <= data[1] <= 208:
                    if self.unprotect(connection.receive_srtp, data, &length) == 0:
                        receiver.count(
                            data, length, received_ns(&self.msgs[j].msg_hdr, offset_ns, now_ns)
                        )
                    else:
                        receiver.malformed += 1
                elif length >= 8 and 127 < data[0] < 192:  # SRTCP
                    if self.unprotect_rtcp(connection.receive_srtp, data, &length) != 0:
                        receiver.malformed += 1
                        continue
                    try:
                        connection.on_rtcp(
                            PyBytes_FromStringAndSize(<char*>data, length),
                            received_ns(&self.msgs[j].msg_hdr, offset_ns, now_ns),
                        )
                    except Exception:  # a report its connection cannot read
                        receiver.malformed += 1
                else:  # STUN, DTLS: aioice's and aiortc's business
                    slow.append((token, PyBytes_FromStringAndSize(<char*>data, length),
                                 _address(&self.addrs[j])))
            if got < BATCH:
                return

    def close(self):
        for token in list(self.entries):
            self.remove(token)


cdef tuple _address(const sockaddr_storage* address):
    """(host, port) of an IPv4 source, as aioice expects it (the tool gathers IPv4 only)."""
    cdef const sockaddr_in* v4 = <const sockaddr_in*>address
    if address.ss_family != AF_INET:
        return ("", 0)
    return (
        socket.inet_ntop(socket.AF_INET, PyBytes_FromStringAndSize(<char*>&v4.sin_addr, 4)),
        ntohs(v4.sin_port),
    )
