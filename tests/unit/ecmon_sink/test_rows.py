"""The sink without servers: messages -> rows per database, and what happens to rows ClickHouse rejects."""

from __future__ import annotations

import struct
import time
from datetime import date

import pytest
from clickhouse_driver import errors as ch_errors

from ecmon import codec, signing
from ecmon.settings import Settings
from ecmon_sink.rows import COLUMNS, Rows
from ecmon_sink.writer import ClickHouseSink, rows_at_fault


def aggregate(level="PROVINCE", province="370000", entity="370000", period="2026-10", readings=5) -> dict:
    return {"level": level, "entity": entity, "province": province, "industry_code": "*", "energy_type": "electricity",
            "period": period, "unit": "kWh", "physical_milli": 1000, "coal_mgce": 123, "readings": readings,
            "version": 2}


def batch(*aggregates) -> bytes:
    return codec.encode("aggregate_batch", {"emitted_at": 0, "aggregates": list(aggregates)})


def test_a_province_row_goes_to_the_national_and_the_province_database():
    rows = Rows("ecmon")
    rows.add_message("ecmon.aggregates.v1", 0, 7, b"k", batch(aggregate(), aggregate("NATIONAL", "", "CN")))
    assert set(rows.tables) == {("ecmon", "aggregates_monthly"), ("ecmon_370000", "aggregates_monthly")}
    assert len(rows.tables[("ecmon", "aggregates_monthly")]) == 2
    (row,) = rows.tables[("ecmon_370000", "aggregates_monthly")]
    assert dict(zip(COLUMNS["aggregates_monthly"], row))["period"] == date(2026, 10, 1)
    assert rows.origins[("ecmon_370000", "aggregates_monthly")][0].offset == 7


def test_registry_records_fill_the_enterprises_of_their_province():
    record = {"uscc": "91370102000000019K", "name": "Jinan Steel", "region_code": "370102", "industry_code": "3110",
              "tier": "NATIONAL_KEY", "key_id": "k1", "valid_from": 0,
              "meters": [{"meter_id": "m1", "energy_type": "electricity", "unit": "kWh", "interval_s": 900}],
              "public_keys": [], "registry_signature": b""}  # v3 fields: fastavro writes no bytes default
    authority = signing.generate_private_key()
    record["public_keys"] = [{"key_id": "k1", "algorithm": "ed25519", "valid_from": 0, "valid_until": None,
                              "revoked_at": None,
                              "public_key": signing.public_key_raw(signing.generate_private_key())}]
    rows = Rows("ecmon", signing.public_key_raw(authority))
    rows.add_message("ecmon.registry.v1", 1, 42, record["uscc"].encode(), codec.encode(
        "enterprise_record", signing.sign_registry_record(record, authority, issued_at=1_790_000_000_000)))
    (row,) = rows.tables[("ecmon_370000", "enterprises")]
    values = dict(zip(COLUMNS["enterprises"], row))
    # version = the authority's issued_at: a replayed older record never outranks a newer one
    assert values["province"] == "370000" and values["prefecture"] == "370100"
    assert values["version"] == 1_790_000_000_000
    assert values["meter_interval_s"] == [900]
    # ... and every record, for the coverage list's history (migration 0012)
    assert rows.tables[("ecmon_370000", "enterprise_records")] == [row]


@pytest.mark.parametrize("value, reason", [(b"garbage", "undecodable"),
                                           (batch(aggregate(period="2026-13")), "unconvertible")])
def test_unreadable_messages_become_dead_letters(value, reason):
    rows = Rows("ecmon")
    rows.add_message("ecmon.aggregates.v1", 3, 9, b"91370100MA0000001X", value)
    (row,) = rows.tables[("ecmon", "dead_letters")]
    values = dict(zip(COLUMNS["dead_letters"], row))
    assert values["reason"] == reason and values["source_offset"] == 9 and values["uscc"] == "91370100MA0000001X"
    assert values["payload"].encode("latin-1") == value


def test_errors_are_the_rows_fault_only_when_the_values_are_wrong():
    assert rows_at_fault(ch_errors.TypeMismatchError("Column readings: argument out of range"))
    assert rows_at_fault(struct.error("argument out of range"))
    assert rows_at_fault(ch_errors.ServerException("Cannot parse", code=ch_errors.ErrorCodes.CANNOT_PARSE_TEXT))
    assert rows_at_fault(ch_errors.ServerException("Too many partitions for single INSERT block (more than 100)",
                                                   code=ch_errors.ErrorCodes.TOO_MANY_PARTS))
    assert not rows_at_fault(ch_errors.ServerException("Too many parts (300). Merges are processing significantly "
                                                       "slower than inserts", code=ch_errors.ErrorCodes.TOO_MANY_PARTS))
    assert not rows_at_fault(ch_errors.NetworkError("Connection refused"))
    assert not rows_at_fault(ConnectionRefusedError())
    assert not rows_at_fault(ch_errors.ServerException("Table ecmon.x doesn't exist", code=60))
    assert not rows_at_fault(ch_errors.ServerException("Access denied", code=291))


class FakeClient:
    """Rejects any insert containing a negative readings value; fails the first ``outages`` calls."""

    def __init__(self, outages: int = 0) -> None:
        self.outages, self.inserted, self.calls = outages, [], 0

    def execute(self, query, columns, columnar):
        self.calls += 1
        if self.outages:
            self.outages -= 1
            raise ch_errors.NetworkError("Connection refused")
        table = query.split()[2]
        data = list(zip(*columns))
        readings = COLUMNS["aggregates_monthly"].index("readings")
        if table.endswith("aggregates_monthly") and any(r[readings] < 0 for r in data):
            raise ch_errors.TypeMismatchError("Column readings: argument out of range")
        self.inserted += [(table, r) for r in data]

    def disconnect(self):
        pass


class IdleConsumer:
    """A consumer with no partitions: what the sink polls while it waits for ClickHouse."""

    def subscribe(self, topics, on_revoke=None):
        pass

    def assignment(self):
        return []

    def consume(self, num_messages=1, timeout=-1):
        time.sleep(timeout)
        return []


def sink_with(client) -> ClickHouseSink:
    return ClickHouseSink(Settings(), max_backoff_s=0.01, consumer=IdleConsumer(), client=client,
                          authority_public_key=b"")


def test_a_rejected_row_is_found_by_splitting_and_goes_to_the_dead_letters_once():
    rows = Rows("ecmon")
    good = [aggregate(entity=f"E{i}", level="ENTERPRISE") for i in range(20)]
    rows.add_message("ecmon.aggregates.v1", 0, 1, b"", batch(*good[:10]))
    rows.add_message("ecmon.aggregates.v1", 0, 2, b"", batch(*good[10:], aggregate(readings=-1)))
    client = FakeClient(outages=3)
    assert sink_with(client).write(rows) == 1
    written = [r for t, r in client.inserted if t == "ecmon.aggregates_monthly"]
    assert len(written) == 20  # every good row, the bad one not
    dead = [dict(zip(COLUMNS["dead_letters"], r)) for t, r in client.inserted if t == "ecmon.dead_letters"]
    assert len(dead) == 1  # refused by ecmon and ecmon_370000: one dead letter naming both
    assert dead[0]["reason"] == "clickhouse_rejected" and dead[0]["source_offset"] == 2
    assert "ecmon.aggregates_monthly" in dead[0]["detail"] and "ecmon_370000.aggregates_monthly" in dead[0]["detail"]


def test_targets_become_queryable_in_the_bound_province():
    """Province targets and enterprise quotas (avro/v1/target.avsc) land in the targets table of the national and
    the province database; an enterprise's quota in the province of its registration (USCC characters 3-8)."""
    province = {"scope": "PROVINCE", "entity_code": "370000", "year": 2026, "month": 10, "coal_mgce": 6_500 * 10**9,
                "intensity": None, "document": "鲁发改能源〔2026〕1号", "issued_at": 1_790_000_000_000}
    from ecmon.uscc import make_uscc

    uscc = make_uscc("210102", 1)
    quota = {**province, "scope": "ENTERPRISE", "entity_code": uscc, "month": 0,
             "intensity": {"basis": "PRODUCT", "product_code": "3206010100", "denominator_unit": "t",
                           "mgce_per_unit": 560_000_000, "reduction_bp": 300}}
    rows = Rows("ecmon")
    rows.add_message("ecmon.targets.v1", 0, 1, b"PROVINCE/370000/2026/10", codec.encode("target", province))
    rows.add_message("ecmon.targets.v1", 0, 2, f"ENTERPRISE/{uscc}/2026/0".encode(), codec.encode("target", quota))
    (p,) = [dict(zip(COLUMNS["targets"], r)) for r in rows.tables[("ecmon_370000", "targets")]]
    (q,) = [dict(zip(COLUMNS["targets"], r)) for r in rows.tables[("ecmon_210000", "targets")]]
    assert p["coal_mgce"] == 6_500 * 10**9 and p["intensity_basis"] == "" and p["version"] == 1_790_000_000_000
    assert q["province"] == "210000" and q["intensity_mgce_per_unit"] == 560_000_000 and q["reduction_bp"] == 300
    assert len(rows.tables[("ecmon", "targets")]) == 2


def test_co2_and_its_scope_are_written_and_an_aggregate_before_v4_gets_them_where_they_can_be_rebuilt():
    v1 = next(sv for sv in codec.catalog().by_fingerprint.values()
              if sv.short_name == "aggregate_batch" and sv.version == 1)
    old = codec.encode("aggregate_batch", {"emitted_at": 0, "aggregates": [
        aggregate("ENTERPRISE", entity="91370100MA0000001X"), aggregate()]}, schema=v1)
    rows = Rows("ecmon")
    rows.add_message("ecmon.aggregates.v1", 0, 1, b"k", old)
    rows.add_message("ecmon.aggregates.v1", 0, 2, b"k", batch({**aggregate(), "co2_g": 531, "co2_scope": "indirect"}))
    got = [dict(zip(COLUMNS["aggregates_monthly"], r)) for r in rows.tables[("ecmon", "aggregates_monthly")]]
    # 1 kWh in 2026 at the newest published grid factor (0.5306 kg/kWh): 531 g; a region's old row stays 0
    assert [(r["level"], r["co2_g"], r["co2_scope"]) for r in got] == [
        ("ENTERPRISE", 531, "indirect"), ("PROVINCE", 0, "indirect"), ("PROVINCE", 531, "indirect")]
