from ecmon import codec
from ecmon.months import month_start_ms
from ecmon_simulator.fleet import build_fleet, plan_batches
from ecmon_simulator.production import daily_main_consumption, encode_production, production_records


def test_one_daily_output_per_enterprise_and_day_with_readings_and_it_round_trips(tmp_path):
    fleet = build_fleet(3, ("210000",), seed=5)
    start = month_start_ms("2026-10")
    batches = [b for e in fleet for b in plan_batches(e, start, start + 3 * 86_400_000, 900, 24)]
    records = production_records(fleet, batches, 1_790_000_000_000)
    assert len(records) == 3 * 3  # three enterprises, three days
    consumed = daily_main_consumption(batches)
    for ent, record in records:
        assert record["period_end"] - record["period_start"] == 86_400_000
        assert record["quantity_milli"] > 0
        _, decoded = codec.decode(encode_production(ent, record, tmp_path), expected="production_output")
        assert decoded["batch_id"] == record["batch_id"] and len(decoded["signature"]) == 64  # Ed25519
    assert sum(consumed.values()) == sum(
        r["value_milli"] for b in batches for r in b.countable if r["meter_id"] == b.enterprise.meters[0].meter_id
    )
    assert {(r["uscc"], (r["period_start"] + 8 * 3_600_000) // 86_400_000) for _, r in records} == set(consumed)
