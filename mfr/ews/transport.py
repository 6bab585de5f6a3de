"""How EWS answers are read off the wire: in chunks, not one byte at a time.

exchangelib reads every answer through ``requests``' ``iter_content()``, whose default chunk is
one byte. For an ordinary answer (already in memory) that hands lxml the document one byte per
call; for a streaming answer (GetStreamingEvents) every byte is a separate urllib3 read, and
exchangelib's ``DocumentYielder`` then looks at each byte in Python to find where one SOAP
document ends. That was about half the listener's CPU, and a good share of the extractor's.

exchangelib stays the client (sessions, auth, retries, subscriptions); two things change:

* ``ChunkedAdapter``, the HTTP adapter of exchangelib's sessions (``install``), gives responses
  whose ``iter_content()`` with the default one-byte chunk returns an in-memory body as one
  chunk, and a chunked streaming body as it arrives, cut into the one-byte pieces exchangelib's
  own streaming reader expects (so its stock services keep working unchanged, only cheaper).
  Any other chunk size asked for explicitly is served as ``requests`` always did.
* ``ChunkedStreamingEvents`` is GetStreamingEvents reading whole chunks as they arrive and
  finding documents with a byte search (``documents``), within a size limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import requests
from exchangelib.errors import MalformedResponseError
from exchangelib.protocol import BaseProtocol
from exchangelib.services import GetStreamingEvents
from exchangelib.util import DummyResponse

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024  # one notification document; Exchange's are a few KiB
_XML_DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>\n"
_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Envelope[\s/>]")
_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?Envelope\s*>")


class ChunkedResponse(requests.Response):
    """A response whose default ``iter_content()`` does not read byte by byte."""

    def iter_content(
        self, chunk_size: int | None = 1, decode_unicode: bool = False
    ) -> Iterator[Any]:
        if decode_unicode:
            return super().iter_content(chunk_size, decode_unicode=True)
        if chunk_size != 1:
            return super().iter_content(chunk_size)
        if self._content_consumed and isinstance(self._content, bytes):
            return iter((self._content,))  # already in memory: all of it at once
        if getattr(self.raw, "chunked", False):
            return _bytewise(super().iter_content(None))
        # A streaming body without chunked encoding: a larger read could wait for bytes that
        # are not coming yet, so it is read as before.
        return super().iter_content(chunk_size)


def _bytewise(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Chunks as they arrive, as the one-byte pieces exchangelib's stream reader walks."""
    for chunk in chunks:
        for i in range(len(chunk)):
            yield chunk[i:i + 1]


class ChunkedAdapter(requests.adapters.HTTPAdapter):
    """exchangelib's HTTP adapter, building ``ChunkedResponse``s."""

    def build_response(self, req: Any, resp: Any) -> requests.Response:
        response = super().build_response(req, resp)
        response.__class__ = ChunkedResponse
        return response


def install() -> None:
    """Make exchangelib's sessions read in chunks (idempotent, process-wide: exchangelib picks
    its adapter per class). An adapter class already in place (``mfr.ews.trust``'s) is kept, with
    the chunked responses on top. Sessions made before keep reading as they did."""
    current = BaseProtocol.HTTP_ADAPTER_CLS
    if issubclass(current, ChunkedAdapter):
        return
    BaseProtocol.HTTP_ADAPTER_CLS = ChunkedAdapter if current is requests.adapters.HTTPAdapter \
        else type(f"Chunked{current.__name__}", (ChunkedAdapter, current), {})


def documents(chunks: Iterable[bytes], limit: int = MAX_DOCUMENT_BYTES) -> Iterator[bytes]:
    """The SOAP documents of a streaming answer, each as soon as its last byte arrived.

    An end tag cannot occur inside text or attribute values (``<`` is escaped there), so a byte
    search finds a document's end as surely as a parser would. A document past ``limit`` bytes
    is refused rather than buffered without end."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while True:
            start = _START.search(buffer)
            if start is None:
                # Keep only a tail that may hold the beginning of a start tag.
                del buffer[:max(0, len(buffer) - 64)]
                break
            end = _END.search(buffer, start.start())
            if end is None:
                del buffer[:start.start()]
                if len(buffer) > limit:
                    raise MalformedResponseError(
                        f"a streaming document exceeds {limit} bytes without ending")
                break
            yield _XML_DECLARATION + bytes(buffer[start.start():end.end()])
            del buffer[:end.end()]


class ChunkedStreamingEvents(GetStreamingEvents):  # type: ignore[misc]
    """GetStreamingEvents reading its hanging answer in whole chunks (``documents``)."""

    def _get_soap_messages(self, body: Any) -> Iterator[Any]:
        response = body  # GetStreamingEvents passes the raw response on as the "body"
        # Without chunked encoding, reading "what arrived" would wait for the end of the body.
        size = None if getattr(response.raw, "chunked", False) else 1
        for document in documents(response.iter_content(chunk_size=size)):
            try:
                _, soap_body = super(GetStreamingEvents, self)._get_soap_parts(
                    response=DummyResponse(content=document))
            except Exception:
                response.close()
                raise
            yield from super(GetStreamingEvents, self)._get_soap_messages(body=soap_body)
            if self.connection_status == self.CLOSED:
                break  # no need to wait for the server to close the connection
