"""The framing both sides of the grader's private socket use: a JSON header plus raw tensor bytes.

Standalone on purpose (stdlib only), like all of ``child/``: it never imports the attnlab package, the
reference or the judge.

A frame is ``>II`` (header length, payload length), the UTF-8 JSON header, then the payload: a
safetensors blob of plain tensors, or nothing. Nothing is ever pickled.
"""

from __future__ import annotations

import json
import socket
import struct
import time

_PREFIX = struct.Struct(">II")
MAX_HEADER = 16 << 20
MAX_PAYLOAD = 1 << 30


class ChannelClosed(EOFError):
    """The other side went away (exited, was killed, or closed the socket)."""


class ChannelCorrupt(ValueError):
    """A frame that does not parse: something other than the worker wrote to the socket."""


class Deadline(TimeoutError):
    """No complete frame arrived before the deadline."""


def send(sock: socket.socket, header: dict, payload: bytes = b"") -> None:
    raw = json.dumps(header, separators=(",", ":")).encode()
    sock.sendall(_PREFIX.pack(len(raw), len(payload)) + raw + payload)


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Deadline()
            sock.settimeout(left)
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except TimeoutError:
            raise Deadline() from None
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            raise ChannelClosed()
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket, deadline: float | None = None) -> tuple[dict, bytes]:
    """One frame; `deadline` is a time.monotonic() value, None waits for ever."""
    hlen, plen = _PREFIX.unpack(_recv_exact(sock, _PREFIX.size, deadline))
    if hlen > MAX_HEADER or plen > MAX_PAYLOAD:
        raise ChannelCorrupt(f"frame too large ({hlen} + {plen} bytes)")
    try:
        header = json.loads(_recv_exact(sock, hlen, deadline))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ChannelCorrupt(f"header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise ChannelCorrupt("header is not a JSON object")
    return header, _recv_exact(sock, plen, deadline) if plen else b""
