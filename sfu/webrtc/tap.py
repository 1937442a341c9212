"""Raw SRTP in and out of one aiortc bundle transport, bypassing aiortc's RTP path.

On the node's port (ICE-lite), the datapath does it all: once the handshake gave the SRTP
sessions, it unprotects straight into our handler and protects what we send into its batch.
With aioice's ICE (a socket per peer), incoming datagrams are taken at its
``Connection.data_received`` (before its queue and the DTLS task hop), unprotected with the
transport's SRTP session and handed synchronously to our handler; sending protects with that
session and writes to the nominated pair's socket. DTLS records still go to aiortc.

Nothing raised below the handler may reach aiortc: an exception escaping a hook would close the
DTLS transport, and a subscriber's failure must never take a publisher down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pylibsrtp
from aiortc.rtcdtlstransport import RTCDtlsTransport, State

from sfu.media.clock import monotonic_ms
from sfu.media.counters import DropReason, MediaCounters
from sfu.media.transport import MediaHandler
from sfu.rtp.demux_py import DTLS, RTCP, RTP
from sfu.rtp.kernels import classify
from sfu.webrtc.icelite import LiteIceTransport
from sfu.webrtc.kernels import Peer, SendLog

logger = logging.getLogger(__name__)


class DtlsTap:
    """Implements ``MediaSink`` over an aiortc ``RTCDtlsTransport``; feeds a ``MediaHandler``.

    Works on both ICE transports: aioice's (one socket per peer, tapped at its connection) and
    the node's ICE-lite port (``LiteIceTransport``, whose datapath calls our handler itself).
    """

    def __init__(
        self, dtls: RTCDtlsTransport, handler: MediaHandler, counters: MediaCounters
    ) -> None:
        self._dtls = dtls
        self._handler = handler
        self._counters = counters
        self._errors = 0
        transport: Any = dtls.transport
        self._lite: LiteIceTransport | None = None
        self._media: Peer | None = None
        self._connection: Any = None
        self._send_log: SendLog | None = None
        self.send_rtp: Callable[[bytes], bool] = self._send_rtp
        if isinstance(transport, LiteIceTransport):
            self._lite = transport
            self._media = transport.attach_media(handler, self._media_dropped)
            self.send_rtp = self._media.send_rtp  # straight into the datapath
            dtls.on("statechange", self._give_keys)
            self._give_keys()
        else:
            self._connection = transport._connection
            self._pass_on = self._connection.data_received
            self._connection.data_received = self._data_received

    @property
    def connected(self) -> bool:
        if self._dtls._state is not State.CONNECTED:
            return False
        if self._lite is not None:
            return self._lite.ready
        return 1 in self._connection._nominated

    def set_send_log(self, log: SendLog) -> None:
        """Stamp the RTP we send with transport-wide seqs into ``log`` (transport-cc)."""
        if self._media is not None:
            self._media.set_send_log(log)
        else:
            self._send_log = log

    def _send_rtp(self, data: bytes) -> bool:
        if self._send_log is not None and self.connected:
            data = self._send_log.stamp(data, monotonic_ms())
        return self._send(data, rtcp=False)

    def send_rtcp(self, data: bytes) -> bool:
        return self._send(data, rtcp=True)

    def _send(self, data: bytes, *, rtcp: bool) -> bool:
        if self._media is not None:  # a refusal comes back through _media_dropped
            return self._media.send(data, rtcp)
        if not self.connected:
            self._counters.drop(DropReason.TRANSPORT_NOT_READY)
            return False
        srtp = self._dtls._tx_srtp
        try:
            protected = srtp.protect_rtcp(data) if rtcp else srtp.protect(data)
            pair = self._connection._nominated[1]
            pair.protocol.transport.sendto(protected, pair.remote_addr)
        except (OSError, AttributeError, KeyError, pylibsrtp.Error):  # ConnectionError is OSError
            self._counters.drop(DropReason.SEND_FAILED)
            return False
        return True

    def _give_keys(self) -> None:
        """The datapath has our SRTP sessions exactly while DTLS is connected."""
        if self._media is None:
            return
        if self._dtls._state is State.CONNECTED:
            self._media.set_keys(self._dtls._rx_srtp, self._dtls._tx_srtp)
        elif self._dtls._state in (State.CLOSED, State.FAILED):
            self._media.close()

    def _media_dropped(self, code: int) -> None:
        """The datapath could not deliver or send one of our datagrams (a ``DropReason.code``)."""
        reason = DropReason.of(code)
        if reason is DropReason.INTERNAL_ERROR:
            self._handler_failed()
        elif reason is DropReason.SEND_FAILED and not self.connected:
            self._counters.drop(DropReason.TRANSPORT_NOT_READY)  # no keys or address yet
        else:
            self._counters.drop(reason)

    def _handler_failed(self) -> None:
        self._counters.drop(DropReason.INTERNAL_ERROR)
        self._errors += 1
        if self._errors % 1000 == 1:  # sampled: a bug here must not flood the log
            logger.exception("packet handler failed (%d times)", self._errors)

    def _data_received(self, data: bytes, component: int) -> None:
        kind = classify(data)
        if kind in (RTP, RTCP):
            self._srtp_received(data, kind == RTCP)
        elif kind == DTLS:
            self._pass_on(data, component)
        else:
            self._counters.drop(DropReason.NOT_WEBRTC)

    def _srtp_received(self, data: bytes, rtcp: bool) -> None:
        srtp = self._dtls._rx_srtp
        if srtp is None:  # handshake not finished
            self._counters.drop(DropReason.TRANSPORT_NOT_READY)
            return
        now_ms = monotonic_ms()
        try:
            if rtcp:
                plain = srtp.unprotect_rtcp(data)
                self._handler.on_rtcp(plain, now_ms)
            else:
                plain = srtp.unprotect(data)
                self._handler.on_rtp(plain, now_ms)
        except pylibsrtp.Error:
            self._counters.drop(DropReason.SRTP_UNPROTECT)
        except Exception:
            self._handler_failed()

    def detach(self) -> None:
        """Stop delivering packets (the handler is going away)."""
        if self._media is not None:
            self._media.close()
        else:
            self._connection.data_received = self._pass_on
