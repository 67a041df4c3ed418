from fractions import Fraction

from ecmon import codec
from ecmon.months import month_start_ms
from ecmon.quota_standards import standard_for
from ecmon_worker import enterprise_benchmarks as eb

DAY = 86_400_000
USCC = "91370100MA0000001X"
CLINKER = standard_for("3101010000")  # GB 16780-2021, 117 kgce/t


def figure(day: int, tonnes_milli: int, sent_at: int = 1, batch: str = "a", unit: str = "t") -> dict:
    start = month_start_ms("2026-10") + day * DAY
    return {"product_code": "3101010000", "period_start": start, "period_end": start + DAY,
            "quantity_milli": tonnes_milli, "unit": unit, "sent_at": sent_at, "batch_id": f"{batch}{day}"}


def energy(tce_by_month: dict[str, int]) -> dict:
    """An enterprise rollup state holding the given tce per month (split over two energy types)."""
    m = {}
    for month, tce in tce_by_month.items():
        m[f"raw_coal|t|{month}"] = [1, tce * 10**9 - 10**9, 1, 3]
        m[f"electricity|kWh|{month}"] = [1, 10**9, 1, 3]
    return {"v": 3, "seq": {}, "wm": 0, "reg": {}, "m": m}


def test_resends_change_nothing_and_corrections_replace_the_period():
    state = eb.new_state()
    assert eb.apply_production(state, figure(0, 1_000_000), "2026-10")
    assert not eb.apply_production(state, figure(0, 1_000_000), "2026-10")  # resend
    assert eb.apply_production(state, figure(1, 2_000_000), "2026-10")
    assert eb.month_output(state, "3101010000", "2026-10", "t") == 3000
    assert eb.apply_production(state, figure(0, 1_500_000, sent_at=2, batch="b"), "2026-10")  # corrected
    assert not eb.apply_production(state, figure(0, 9_000_000, sent_at=1, batch="c"), "2026-10")  # stale
    assert eb.month_output(state, "3101010000", "2026-10", "t") == 3500
    assert eb.apply_production(state, figure(2, 500_000_000, unit="kg", sent_at=3), "2026-10")
    assert eb.month_output(state, "3101010000", "2026-10", "t") == 4000


def test_the_month_energy_sums_every_energy_type_of_that_month_only():
    assert eb.month_energy_mgce(energy({"2026-10": 400, "2026-09": 7}), "2026-10") == 400 * 10**9
    assert eb.month_energy_mgce(None, "2026-10") == 0


def test_the_verdict_is_exact_at_the_limit():
    state = eb.new_state()
    eb.apply_production(state, figure(0, 1_000_000), "2026-10")  # 1000 t
    at_limit = eb.benchmark(USCC, "2026-10", CLINKER, state, energy({"2026-10": 117}))  # 117 kgce/t
    assert at_limit.intensity_mgce == 117 * 10**6 and at_limit.ratio == 1 and not at_limit.above_limit
    above = eb.Benchmark(USCC, "2026-10", CLINKER, 117 * 10**9 + 1, Fraction(1000))
    assert above.above_limit  # one milligram over
    assert eb.benchmark(USCC, "2026-11", CLINKER, state, energy({"2026-11": 5})) is None  # no output yet


def test_an_enterprise_above_its_limit_gets_one_deterministic_anomaly_per_product_and_month():
    state = eb.new_state()
    eb.apply_production(state, figure(0, 1_000_000), "2026-10")
    b = eb.benchmark(USCC, "2026-10", CLINKER, state, energy({"2026-10": 150}))  # 150 kgce/t
    assert b.above_limit and b.ratio == Fraction(150, 117)
    first = eb.intensity_anomaly(b, "370000", "3011")
    eb.apply_production(state, figure(1, 1_000_000), "2026-10")
    later = eb.intensity_anomaly(eb.benchmark(USCC, "2026-10", CLINKER, state, energy({"2026-10": 250})),
                                 "370000", "3011")
    assert first["anomaly_id"] == later["anomaly_id"]
    assert first["type"] == "intensity_above_standard" and first["level"] == "ENTERPRISE"
    # 150 kgce/t is 128 % of the limit (critical from 120 %); the month then falls to 125 kgce/t (107 %)
    assert first["severity"] == "CRITICAL" and later["severity"] == "WARNING"
    assert first["observed"] == 150.0 and first["expected"] == 117.0 and first["unit"] == "kgce/t"
    assert "GB 16780-2021" in first["detail"]
    assert first["span_start"] == month_start_ms("2026-10") and first["span_end"] == month_start_ms("2026-11")
    codec.decode(codec.encode("anomaly", first), expected="anomaly")


def test_state_keeps_thirteen_months_per_product():
    state = eb.new_state()
    for i in range(20):
        month = f"{2025 + (i + 9) // 12}-{(i + 9) % 12 + 1:02d}"
        start = month_start_ms(month)
        eb.apply_production(state, {**figure(0, 1000), "period_start": start, "period_end": start + DAY}, month)
    assert len(state["p"]) == eb.MONTHS_KEPT
