"""What the worker's signature check costs per batch (`ecmon bench`, docs/performance.md).

The check of streams/ecmon_worker/admission.py on a realistic batch (4 meters x 24 intervals, 96 readings): the key's
validity in the registry record, the splice of the unsigned message, and the Ed25519 verification
with the public key object cached by its bytes. Measured in this process; the key pair is made for
the run, like every key that signs anything.
"""

from __future__ import annotations

import time
import uuid

from ecmon import codec, signing

START_MS = 1_790_784_000_000  # 2026-10-01 00:00 CST
INTERVAL_MS = 900_000


def realistic_batch(private_key, key_id: str, uscc: str = "91350100M000100Y43") -> bytes:
    readings = [
        {"meter_id": f"M{n:02d}", "energy_type": "electricity", "ts": START_MS + (i + 1) * INTERVAL_MS,
         "value_milli": 9_000_000 + (i * 7919 + n * 104_729) % 1_800_000, "kind": "INTERVAL", "unit": "kWh",
         "quality": "GOOD"}
        for i in range(24) for n in range(4)
    ]
    record = {"uscc": uscc, "gateway_id": "gw-100Y43-1", "batch_id": str(uuid.uuid4()), "sequence": 1,
              "sent_at": START_MS + 24 * INTERVAL_MS, "key_id": key_id, "signature": b"", "readings": readings}
    unsigned = codec.encode("reading_batch", record)
    return codec.encode("reading_batch", {**record, "signature": signing.sign(unsigned, private_key)})


def measure(seconds: float = 0.5, repeats: int = 5) -> dict:
    """Best-of-``repeats`` µs per batch of the signature check, of Ed25519 verify alone and of signing."""
    private = signing.generate_private_key()
    key_id = "bench-key"
    record = {"key_id": key_id, "public_keys": [{
        "key_id": key_id, "algorithm": "ed25519", "public_key": signing.public_key_raw(private),
        "valid_from": 0, "valid_until": None, "revoked_at": None}]}
    data = realistic_batch(private, key_id)
    unsigned, signature = signing.unsigned_message(data)
    public = signing.public_key_raw(private)
    at = START_MS + 30 * 86_400_000

    def check() -> None:
        if signing.signature_problem(data, record, key_id, at) is not None:
            raise AssertionError("the benchmark batch does not verify")

    cases = {"check": check, "verify": lambda: signing.verify(unsigned, public, signature),
             "sign": lambda: signing.sign(unsigned, private)}
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeats):
        for name, fn in cases.items():
            n, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds / repeats:
                fn()
                n += 1
            best[name] = min(best[name], (time.perf_counter() - started) / n)
    return {"batch_bytes": len(data), "readings": 96, "check_us_per_batch": best["check"] * 1e6,
            "verify_us_per_batch": best["verify"] * 1e6, "sign_us_per_batch": best["sign"] * 1e6}


if __name__ == "__main__":
    print(measure())
