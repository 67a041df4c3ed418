"""The normalised readings written directly (streams/ecmon_worker/normalised_encoding.py) are fastavro's bytes."""

from __future__ import annotations

import random
from typing import Any

import pytest

from ecmon import codec
from ecmon_worker import normalised_encoding
from ecmon_worker.normalised_encoding import SCHEMA, encode

QUALITIES = ("GOOD", "ESTIMATED", "SUSPECT")
EDGES = (0, 1, -1, 63, 64, -64, -65, 127, 128, 2**31, -(2**31), 2**62, -(2**62) - 1, 2**63 - 1, -(2**63))


def batch(readings: list[dict[str, Any]]) -> dict[str, Any]:
    return {"uscc": "91350100M000100Y43", "batch_id": "5f0c8a2e-7d41-4b9e-a3c6-000000000001", "gateway_id": "网关-1",
            "sequence": 7, "province": "350000", "region_code": "350102", "industry_code": "3110",
            "electricity_method": "EQUAL", "normalised_at": 1_790_000_000_000, "readings": readings}


def reading(rng: random.Random) -> dict[str, Any]:
    def number() -> int:
        return rng.choice(EDGES) if rng.random() < 0.2 else rng.randrange(-(10**15), 10**15)
    r: dict[str, Any] = {"meter_id": rng.choice(["E-01", "蒸汽表-2", "", "x" * 200]),
                         "energy_type": rng.choice(["electricity", "steam"]), "unit": rng.choice(["kWh", "GJ", "t"]),
                         "interval_start": number(), "interval_end": number(), "physical_milli": number(),
                         "coal_mgce": number()}
    if rng.random() < 0.8:
        r["quality"] = rng.choice(QUALITIES)
    if rng.random() < 0.5:
        r["revision"] = rng.choice([0, 1, 2, 2**40])
    if rng.random() < 0.5:
        r["replaced_physical_milli"] = rng.choice([None, number()])
    return r


@pytest.fixture(params=["compiled", "python"])
def writer(request: pytest.FixtureRequest) -> Any:
    if request.param == "python":
        return normalised_encoding
    assert normalised_encoding.WRITER is not normalised_encoding, "not compiled: `make venv` builds it (setup.py)"
    return normalised_encoding.WRITER


def test_the_compiled_and_the_reference_writer_give_fastavros_bytes(writer):
    rng = random.Random(2026)
    for n in [0, 1, 2, 56, 500] + [rng.randrange(1, 120) for _ in range(300)]:
        b = batch([reading(rng) for _ in range(n)])
        assert encode(b, writer) == codec.encode(SCHEMA, b)
        assert codec.decode(encode(b, writer))[1]["readings"] == codec.decode(codec.encode(SCHEMA, b))[1]["readings"]


@pytest.mark.parametrize("change", [{"physical_milli": 2**63}, {"coal_mgce": -(2**63) - 1}, {"quality": "BAD"},
                                    {"quality": None}, {"meter_id": 5}, {"unit": b"kWh"}, {"interval_end": 1.5}])
def test_what_the_writer_does_not_expect_gets_fastavros_verdict(writer, change):
    b = batch([{**reading(random.Random(1)), **change}])
    try:
        expected: Any = codec.encode(SCHEMA, b)
    except Exception as exc:  # whichever error fastavro raises, the writer must raise it too
        with pytest.raises(type(exc)):
            encode(b, writer)
    else:
        assert encode(b, writer) == expected


def test_it_writes_the_current_version_of_the_schema():
    """A new version of normalised_reading_batch must come with this writer's layout brought up to it."""
    assert codec.catalog().current[SCHEMA].version == normalised_encoding.WRITES_VERSION
