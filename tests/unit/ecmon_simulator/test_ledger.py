"""The ledger counts as the platform does: a batch id once, and each reading identity once."""

from ecmon_simulator.ledger import Ledger, ends_of, runs_of


def _reading(meter: str, ts: int, value: int = 1000) -> dict:
    return {"meter_id": meter, "energy_type": "electricity", "ts": ts, "value_milli": value, "kind": "INTERVAL",
            "unit": "kWh", "quality": "GOOD"}


def test_a_new_batch_with_readings_already_counted_adds_nothing(tmp_path):
    ledger = Ledger()
    first = [_reading("E-01", 1793462400000 - 900_000 * k) for k in range(4)]
    assert ledger.add("b-1", "370000", "U", first)
    assert not ledger.add("b-1", "370000", "U", first)  # a resend of the same batch
    # a second run: new batch id (new sequence), the same readings plus one new one
    assert ledger.add("b-2", "370000", "U", first + [_reading("E-01", 1793462400000 + 900_000)])
    assert ledger.by_province_month() == {("370000", "2026-10"): [4 * 122_900, 4], ("370000", "2026-11"): [122_900, 1]}
    path = tmp_path / "ledger.json"
    ledger.save(path)
    again = Ledger.load(path)
    again.add("b-3", "370000", "U", first)
    assert again.by_province_month() == ledger.by_province_month()


def test_interval_ends_are_saved_as_runs():
    ends = {0, 900, 1800, 2700, 9000, 9900, 20000}
    assert runs_of(ends) == [[0, 900, 4], [9000, 900, 2], [20000, 0, 1]]
    assert ends_of(runs_of(ends)) == ends
