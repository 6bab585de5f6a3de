"""EWS answers read in chunks: documents found across any chunk boundaries, within a limit."""

from __future__ import annotations

import pytest
from exchangelib.errors import MalformedResponseError

from mfr.ews.transport import _bytewise, documents

DOC = (b'<s:Envelope xmlns:s="urn:s"><s:Body><m:R xmlns:m="urn:m" a="x&gt;y">'
       b"&lt;/s:Envelope&gt;</m:R></s:Body></s:Envelope>")


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 7, 64, 10_000])
def test_documents_are_found_whatever_the_chunks(size: int) -> None:
    """Three documents with keep-alive noise between them come out whole, in order, whatever
    sizes the network cut them into; escaped markup inside text is no end."""
    stream = b"\r\n" + DOC + b"  " + DOC.replace(b"x&gt;y", b"two") + DOC
    found = list(documents(_split(stream, size)))
    assert [d.split(b"\n", 1)[1] for d in found] == [
        DOC, DOC.replace(b"x&gt;y", b"two"), DOC]
    assert all(d.startswith(b"<?xml") for d in found)


def test_a_document_without_end_is_refused_past_the_limit() -> None:
    """A server that never ends its document cannot make the reader buffer without bound."""
    endless = [b"<s:Envelope>"] + [b"x" * 1000] * 20
    with pytest.raises(MalformedResponseError):
        list(documents(endless, limit=10_000))


def test_exchangelibs_reader_still_gets_single_bytes() -> None:
    """Chunks handed to exchangelib's own stream reader come as the one-byte pieces it walks."""
    assert list(_bytewise([b"ab", b"", b"c"])) == [b"a", b"b", b"c"]
