"""Decode benchmark: ``ecmon.codec.decode`` against plain ``fastavro.schemaless_reader``.

Not a test (pytest does not collect it). Run it with::

    .venv/bin/python tests/bench/bench_codec.py [--seconds 0.3] [--repeats 5]

The batch is realistic: 4 meters of one enterprise over 6 hours of 15-minute intervals
(96 readings), signed like a gateway signs. All decoders run in this process on the same bytes:

* ``ecmon.codec.decode``: header check, fingerprint lookup in the catalog, fastavro read, the
  check that the body ends at the end of the message;
* ``fastavro.schemaless_reader`` ("fastavro" in the table), the baseline, on the same body (the message minus its
  10-byte header) with the writer schema parsed once beforehand, with logical types stripped (what the
  codec reads with, so the comparison is fair) and with logical types kept (what a naive
  consumer would do: a datetime per timestamp, a UUID per batch id);
* for information, ``decode`` plus the signature check the worker does per batch (Ed25519, with a
  key pair made for the run), and the signature check alone.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import time
import uuid
from collections.abc import Callable

import fastavro
from rich.console import Console
from rich.table import Table

from ecmon import codec, signing
from ecmon.codec import strip_logical_types

USCC = "91350100M000100Y43"
KEY_ID = f"key-{USCC}"
START_MS = 1_790_784_000_000  # 2026-10-01 00:00 CST
INTERVAL_MS = 900_000
METERS = (  # meter id, energy type, unit, typical value_milli per 15 minutes
    ("100Y43-M01", "electricity", "kWh", 9_000_000),
    ("100Y43-M02", "natural_gas", "m3", 2_500_000),
    ("100Y43-M03", "steam", "t", 20_000),
    ("100Y43-M04", "raw_coal", "t", 12_000),
)


PRIVATE_KEY = signing.generate_private_key()
REGISTRY_RECORD = {"key_id": KEY_ID, "public_keys": [{
    "key_id": KEY_ID, "algorithm": "ed25519", "public_key": signing.public_key_raw(PRIVATE_KEY),
    "valid_from": 0, "valid_until": None, "revoked_at": None}]}


def realistic_batch() -> bytes:
    readings = []
    for i in range(24):  # 6 hours of 15-minute intervals
        ts = START_MS + (i + 1) * INTERVAL_MS
        for n, (meter_id, energy_type, unit, typical) in enumerate(METERS):
            readings.append({
                "meter_id": meter_id, "energy_type": energy_type, "ts": ts,
                "value_milli": typical + (i * 7919 + n * 104_729) % (typical // 5),
                "kind": "INTERVAL", "unit": unit, "quality": "GOOD" if (i + n) % 23 else "ESTIMATED",
            })
    record = {
        "uscc": USCC, "gateway_id": "gw-100Y43-1", "batch_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "bench")),
        "sequence": 1234, "sent_at": START_MS + 24 * INTERVAL_MS + 5_000, "key_id": KEY_ID, "signature": b"",
        "readings": readings,
    }
    unsigned = codec.encode("reading_batch", record)
    record["signature"] = signing.sign(unsigned, PRIVATE_KEY)
    return codec.encode("reading_batch", record)


def calibrate(fn: Callable[[], object], seconds: float) -> int:
    """How many calls of ``fn`` take about ``seconds``."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds / 5:
            return max(1, int(n * seconds / elapsed))
        n *= 2


def best_seconds_per_call(cases: dict[str, Callable[[], object]], seconds: float, repeats: int) -> dict[str, float]:
    """Per case, the best per-call time of ``repeats`` loops; the cases take turns, so a slow
    moment of the machine does not fall on one case only."""
    loops = {name: calibrate(fn, seconds) for name, fn in cases.items()}
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeats):
        for name, fn in cases.items():
            n = loops[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / n)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="length of one timed loop")
    parser.add_argument("--repeats", type=int, default=7, help="timed loops per decoder; the best counts")
    args = parser.parse_args()

    data = realistic_batch()
    body = data[codec.HEADER_LEN:]
    sv = codec.catalog().schema("reading_batch")
    raw = json.loads(sv.path.read_text())
    plain = fastavro.parse_schema(strip_logical_types(raw))
    with_logical = fastavro.parse_schema(raw)

    _, reference = codec.decode(data, expected="reading_batch")
    readings = len(reference["readings"])
    assert fastavro.schemaless_reader(io.BytesIO(body), plain, None) == reference  # the same records

    def ecmon_decode():
        return codec.decode(data, expected="reading_batch")

    def fastavro_plain():
        return fastavro.schemaless_reader(io.BytesIO(body), plain, None)

    def fastavro_logical():
        return fastavro.schemaless_reader(io.BytesIO(body), with_logical, None)

    at_ms = START_MS + 30 * 86_400_000

    def signature_check():
        if signing.signature_problem(data, REGISTRY_RECORD, KEY_ID, at_ms) is not None:
            raise AssertionError("signature")

    def decode_and_verify():
        signature_check()
        return codec.decode(data, expected="reading_batch")

    cases = {
        "ecmon.codec.decode": ecmon_decode,
        "fastavro, logical types stripped (baseline)": fastavro_plain,
        "fastavro, logical types kept": fastavro_logical,
        "ecmon.codec.decode + signature check": decode_and_verify,
        "signature check alone (Ed25519)": signature_check,
    }
    results = best_seconds_per_call(cases, args.seconds, args.repeats)
    baseline = results["fastavro, logical types stripped (baseline)"]

    table = Table(
        title=f"Decoding a {readings}-reading batch ({len(data):,} bytes), best of {args.repeats}",
        caption=f"Python {platform.python_version()}, fastavro {fastavro.__version__}, {platform.machine()}",
    )
    table.add_column("decoder")
    table.add_column("µs / batch", justify="right")
    table.add_column("readings / s", justify="right")
    table.add_column("µs / reading", justify="right")
    table.add_column("vs baseline", justify="right")
    for name, per_call in results.items():
        table.add_row(
            name, f"{per_call * 1e6:,.1f}", f"{readings / per_call:,.0f}", f"{per_call * 1e6 / readings:.2f}",
            f"{baseline / per_call:.2f}x speed",
        )
    Console(width=max(Console().width, 110)).print(table)
    ours = results["ecmon.codec.decode"]
    print(f"ecmon.codec.decode: {readings / ours:,.0f} readings/s; fastavro.schemaless_reader: "
          f"{readings / baseline:,.0f} readings/s; ratio {ours / baseline:.3f} (codec time / baseline time)",
          file=sys.stdout)


if __name__ == "__main__":
    main()
