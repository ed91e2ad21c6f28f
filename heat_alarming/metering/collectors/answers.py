"""Reading a server's answer with a size bound and a deadline, for every collector.

A collector asks a server it does not control: the answer may be larger than the
collector can hold, or trickle in a byte at a time so that a per-read timeout never
fires. :func:`read_body` reads a streamed ``requests`` answer (``stream=True``)
socket read by socket read, counting the bytes and looking at the deadline between
reads, and raises one of three exceptions, which each collector words for its own
server as a :class:`~heat_alarming.metering.pipeline.base.CollectError`:

* :class:`AnswerTooLarge`: the declared or the read size passed the bound;
* :class:`AnswerLate`: the body was not all there by the deadline;
* :class:`AnswerBroken`: the connection broke off (``reason`` says how).
"""
from __future__ import annotations

import time
from typing import Any

import urllib3

#: at most this many (decompressed) bytes are taken from one read of the socket
CHUNK = 64 * 1024


class AnswerTooLarge(Exception):
    """The answer is larger than the bound; ``declared`` is its Content-Length when
    the server declared one above the bound, else None (it passed while read)."""

    def __init__(self, declared: int | None) -> None:
        super().__init__(declared)
        self.declared = declared


class AnswerLate(Exception):
    """The answer's body was not all read by the deadline."""


class AnswerBroken(Exception):
    """The connection broke off while the body was read."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(cause)
        self.cause = cause


def read_body(response: Any, limit: int, deadline: float) -> bytes:
    """The whole body of ``response``, at most ``limit`` bytes, by ``deadline`` (a
    :func:`time.monotonic` time). The caller closes the response."""
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise AnswerTooLarge(int(declared))
    chunks, size = [], 0
    raw = response.raw
    try:
        while True:
            # read1: what one read of the socket brings, so that a server trickling
            # its answer meets the deadline between reads
            chunk = raw.read1(CHUNK, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise AnswerTooLarge(None)
            if time.monotonic() > deadline:
                raise AnswerLate()
            chunks.append(chunk)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        if isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError)):
            raise AnswerLate() from None
        raise AnswerBroken(exc) from None
    return b"".join(chunks)
