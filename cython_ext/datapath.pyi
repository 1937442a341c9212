# Types of the compiled datapath; sfu/webrtc/datapath_py.py documents what it does.
import socket
from collections.abc import Callable
from typing import Final

import pylibsrtp

from sfu.webrtc.datapath_py import PacketHandler

UNPROTECT_FAILED: Final[int]
HANDLER_FAILED: Final[int]
SEND_REFUSED: Final[int]

def address_key(address: tuple[str, int]) -> bytes: ...

class Peer:
    def set_keys(self, rx: pylibsrtp.Session, tx: pylibsrtp.Session) -> None: ...
    def set_destination(self, address: tuple[str, int]) -> None: ...
    def send(self, data: bytes, rtcp: bool) -> bool: ...
    def send_rtp(self, data: bytes) -> bool: ...
    def close(self) -> None: ...

class Datapath:
    wakeups: int
    batches: int
    datagrams: int
    sent: int
    send_failed: int
    slow_path_errors: int
    def __init__(
        self,
        sock: socket.socket,
        *,
        slow_path: Callable[[bytes, tuple[str, int]], None],
        clock_ms: Callable[[], int],
        libsrtp: tuple[int, int, int, int],
        pointer_of: Callable[[pylibsrtp.Session], int],
        max_batches: int = ...,
    ) -> None: ...
    def peer(self, handler: PacketHandler, on_drop: Callable[[int], None]) -> Peer: ...
    def bind(self, address: tuple[str, int], peer: Peer) -> None: ...
    def unbind(self, address: tuple[str, int]) -> None: ...
    def last_received_ms(self, address: tuple[str, int]) -> int: ...
    def on_readable(self) -> None: ...
