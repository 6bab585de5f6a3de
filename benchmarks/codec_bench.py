"""Codec benchmark (not a test): µs per record to encode and decode each contract record with the
codec (fastavro) and with the ``avro`` package as the codec used it before, in one run, with the
ratio, and whether both wrote the same bytes.

    .venv/bin/python -m benchmarks.codec_bench              # every record schema
    .venv/bin/python -m benchmarks.codec_bench --rounds 5000
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from typing import Any

import avro.io

from mfr.codec import HEADER_SIZE, MARKER, Codec
from mfr.diagnosis import ResolvingReader
from tests.core.samples import SAMPLES


def per_call_us(call: Callable[[], object], rounds: int) -> float:
    """Best of three timings of ``rounds`` calls, in µs per call (the best is the least disturbed
    on a shared machine)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(rounds):
            call()
        best = min(best, (time.perf_counter() - started) / rounds * 1e6)
    return best


def avro_package(codec: Codec, name: str) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    """Encode and decode as ``mfr/codec.py`` did with the ``avro`` package alone."""
    entry = codec.entry(name)
    writer = avro.io.DatumWriter(entry.schema)
    reader = ResolvingReader(entry.schema, entry.schema)

    def encode(datum: Any) -> bytes:
        buffer = io.BytesIO()
        buffer.write(MARKER + entry.fingerprint)
        writer.write(datum, avro.io.BinaryEncoder(buffer))
        return buffer.getvalue()

    def decode(data: bytes) -> Any:
        return reader.read(avro.io.BinaryDecoder(io.BytesIO(data[HEADER_SIZE:])))

    return encode, decode


def main() -> None:
    """Time every sample record both ways and print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    codec = Codec()
    print(f"{'record':<14} {'bytes':>5}  {'encode µs avro':>14} {'fastavro':>9} {'ratio':>6}"
          f"  {'decode µs avro':>14} {'fastavro':>9} {'ratio':>6}  identical")
    for name in sorted(SAMPLES):
        print(row(codec, name, args.rounds))


def row(codec: Codec, name: str, rounds: int) -> str:
    """One line of the table: ``name``'s sample record timed both ways."""
    datum = codec.decode(codec.encode(name, SAMPLES[name])).datum
    old_encode, old_decode = avro_package(codec, name)
    data = codec.encode(name, datum)
    identical = old_encode(datum) == data and old_decode(data) == codec.decode(data).datum
    enc_old = per_call_us(lambda: old_encode(datum), rounds)
    enc_new = per_call_us(lambda: codec.encode(name, datum), rounds)
    dec_old = per_call_us(lambda: old_decode(data), rounds)
    dec_new = per_call_us(lambda: codec.decode(data), rounds)
    return (
        f"{name:<14} {len(data):>5}  {enc_old:>14.1f} {enc_new:>9.1f} {enc_old / enc_new:>5.1f}x"
        f"  {dec_old:>14.1f} {dec_new:>9.1f} {dec_old / dec_new:>5.1f}x  {identical}"
    )


if __name__ == "__main__":
    main()
