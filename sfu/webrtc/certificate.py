"""The node's DTLS certificate: one for all its peer connections, as Janus and LiveKit do.

aiortc would generate a key pair and certificate per peer connection and an OpenSSL context per
DTLS transport. Each SDP answer or offer carries the certificate's fingerprint, so one shared
certificate authenticates every transport just as well.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from aiortc import RTCCertificate
from aiortc.rtcdtlstransport import SRTPProtectionProfile
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import Certificate
from OpenSSL import SSL

# aiortc's certificates are valid 30 days: connections made from then on get a new one.
RENEW_BEFORE = datetime.timedelta(days=7)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# The curves our OpenSSL takes a peer's ECDSA certificate on in DTLS 1.2: the ones its ClientHello
# lists (RFC 8422 §5.3). OpenSSL 4 has none of RFC 8422's deprecated curves; WebRTC's is P-256
# (RFC 8827 §6.5).
ACCEPTED_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})


def refused_curve(peer: Certificate | None) -> str | None:
    """The curve of a peer's ECDSA certificate that OpenSSL refuses (after a failed handshake,
    to say why), else None."""
    key = peer.public_key() if peer is not None else None
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in ACCEPTED_CURVES:
        return key.curve.name
    return None


class SharedCertificate(RTCCertificate):
    """One OpenSSL context for all the DTLS transports using this certificate, releasing each
    connection's buffers while idle (after the handshake DTLS carries almost nothing: SRTP
    keys come out of it, packets go around it)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: Certificate) -> None:
        super().__init__(key, cert)
        self._contexts: dict[tuple[bytes, ...], SSL.Context] = {}

    def _create_ssl_context(self, srtp_profiles: list[SRTPProtectionProfile]) -> SSL.Context:
        profiles = tuple(p.openssl_profile for p in srtp_profiles)
        context = self._contexts.get(profiles)
        if context is None:
            context = super()._create_ssl_context(srtp_profiles)
            context.set_mode(SSL.MODE_RELEASE_BUFFERS)
            self._contexts[profiles] = context
        return context


class NodeCertificate:
    """The certificate new peer connections use (``current``), renewed before it expires."""

    def __init__(self, now: Callable[[], datetime.datetime] = utc_now) -> None:
        self._now = now
        self._certificate = SharedCertificate.generateCertificate()

    def current(self) -> SharedCertificate:
        if self._certificate.expires - self._now() < RENEW_BEFORE:
            self._certificate = SharedCertificate.generateCertificate()
        return self._certificate
