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


def energy(washed_coal_t_by_day: dict[int, int], watermark_day: int = 31, steam_t: int = 0,
           month: str = "2026-10") -> dict:
    """An enterprise rollup state: washed coal (0.9 kgce/kg, inside the clinker scope) in tonnes per day of the
    month (day 0 = the 1st), steam (outside it) on the 1st, readings delivered up to the end of
    ``watermark_day`` - 1. Month totals are the sum of the days, as the rollup keeps them."""
    start = month_start_ms(month)
    d, total = {}, 0
    for day, tonnes in washed_coal_t_by_day.items():
        d[f"washed_coal|t|{month}-{day + 1:02d}"] = [tonnes * 1000, tonnes * 9 * 10**8, 96]
        total += tonnes * 1000
    d[f"steam|t|{month}-01"] = [steam_t * 1000, steam_t * 1286 * 10**5, 96]
    m = {f"washed_coal|t|{month}": [total, total * 9 * 10**5, 96, 3],
         f"steam|t|{month}": [steam_t * 1000, steam_t * 1286 * 10**5, 96, 3]}
    return {"v": 3, "seq": {}, "wm": start + watermark_day * DAY, "reg": {}, "m": m, "d": d}


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
    other = energy({0: 7}, month="2026-09")
    both = {**energy({0: 400}), "m": {**energy({0: 400})["m"], **other["m"]}}
    assert eb.month_energy_mgce(both, "2026-10") == 400 * 9 * 10**8
    assert eb.month_energy_mgce(None, "2026-10") == 0


def test_the_verdict_is_exact_at_the_limit():
    state = eb.new_state()
    eb.apply_production(state, figure(0, 1_000_000), "2026-10")  # 1000 t on the 1st
    # 130 t of washed coal = 117,000 kgce: 117 kgce/t on the 1st; steam is outside the clinker scope
    at_limit = eb.benchmark(USCC, "2026-10", CLINKER, state, energy({0: 130, 1: 999}, steam_t=500))
    assert at_limit.intensity_mgce == 117 * 10**6 and at_limit.ratio == 1 and not at_limit.above_limit
    assert (at_limit.days, at_limit.month_days, at_limit.whole_month) == (1, 31, False)
    above = eb.Benchmark(USCC, "2026-10", CLINKER, 117 * 10**9 + 1, Fraction(1000))
    assert above.above_limit  # one milligram over
    assert eb.benchmark(USCC, "2026-11", CLINKER, state, energy({0: 5}, month="2026-11")) is None  # no output yet


def test_output_and_energy_are_of_the_same_days_and_only_of_days_delivered_in_readings():
    state = eb.new_state()
    for day in range(3):
        eb.apply_production(state, figure(day, 1_000_000), "2026-10")
    readings = {0: 100, 1: 200, 2: 300, 3: 400}  # day 3 has energy but no output yet: not judged
    b = eb.benchmark(USCC, "2026-10", CLINKER, state, energy(readings, watermark_day=2))  # days 0, 1 delivered
    assert (b.days, b.output, b.energy_mgce) == (2, 2000, 300 * 9 * 10**8)
    b = eb.benchmark(USCC, "2026-10", CLINKER, state, energy(readings, watermark_day=3))
    assert (b.days, b.output, b.energy_mgce) == (3, 3000, 600 * 9 * 10**8)
    assert eb.benchmark(USCC, "2026-10", CLINKER, state, energy(readings, watermark_day=0)) is None


def test_the_whole_month_is_judged_on_the_month_totals_as_the_report_judges_it():
    from ecmon_reports.analyst import BENCHMARK_COLUMNS, benchmark_rows

    state = eb.new_state()
    for day in range(31):
        eb.apply_production(state, figure(day, 7_777_777), "2026-10")
    rollup = energy({day: 800 + day for day in range(31)}, steam_t=40)
    b = eb.benchmark(USCC, "2026-10", CLINKER, state, rollup)
    assert b.whole_month and b.days == 31
    phys = [(k.split("|")[0], k.split("|")[1], v[0]) for k, v in rollup["m"].items()]
    row = dict(zip(BENCHMARK_COLUMNS, benchmark_rows([(USCC, "n", "370000", "3011", "3101010000", "t",
                                                      31 * 7_777_777, *map(list, zip(*phys)))])[0]))
    assert row["coal_tce"] * 10**9 == b.energy_mgce and row["output"] == b.output
    assert row["verdict"] == ("FAIL" if b.above_limit else "pass")


def test_the_scope_converts_electricity_at_its_calorific_value_whatever_the_platform_method():
    from ecmon.quota_standards import scope_energy_mgce

    steel = standard_for("3206010100")  # the EAF process: electricity in, coke and blast-furnace gas out
    metered = [("electricity", "kWh", 1_000_000), ("coke", "t", 5_000_000), ("blast_furnace_gas", "m3", 10**9)]
    assert scope_energy_mgce(steel, metered) == 1000 * 122_900  # 1000 kWh x 0.1229 kgce
    assert scope_energy_mgce(standard_for("2601010000"), metered) > scope_energy_mgce(steel, metered)  # ammonia: all


def test_an_enterprise_above_its_limit_gets_one_deterministic_anomaly_per_product_and_month():
    state = eb.new_state()
    eb.apply_production(state, figure(0, 1_000_000), "2026-10")
    b = eb.benchmark(USCC, "2026-10", CLINKER, state, energy({0: 166, 1: 266}))  # 149.4 kgce/t on the 1st
    assert b.above_limit and b.ratio == Fraction(1494, 1170)
    first, changed = eb.judge(state, b, "370000", "3011")
    assert changed and eb.judge(state, b, "370000", "3011") == (None, False)  # the same basis: nothing new
    eb.apply_production(state, figure(1, 1_000_000), "2026-10")
    later = eb.benchmark(USCC, "2026-10", CLINKER, state, energy({0: 166, 1: 100}))  # 2 days: 119.7 kgce/t
    second, _ = eb.judge(state, later, "370000", "3011")
    assert first["anomaly_id"] == second["anomaly_id"]
    assert first["type"] == "intensity_above_standard" and first["level"] == "ENTERPRISE"
    # 149.4 kgce/t is 128 % of the limit (critical from 120 %); the month then falls to 119.7 kgce/t (102 %)
    assert first["severity"] == "CRITICAL" and second["severity"] == "WARNING"
    assert first["observed"] == 149.4 and first["expected"] == 117.0 and first["unit"] == "kgce/t"
    assert "GB 16780-2021" in first["detail"] and "month to date: the 1 of 31 days" in first["detail"]
    assert first["span_start"] == month_start_ms("2026-10") and first["span_end"] == month_start_ms("2026-11")
    codec.decode(codec.encode("anomaly", first), expected="anomaly")


def test_a_warning_the_month_no_longer_supports_is_withdrawn_under_the_same_id():
    state = eb.new_state()
    eb.apply_production(state, figure(0, 1_000_000), "2026-10")
    warned, _ = eb.judge(state, eb.benchmark(USCC, "2026-10", CLINKER, state, energy({0: 140})), "370000", "3011")
    for day in range(1, 31):
        eb.apply_production(state, figure(day, 1_000_000), "2026-10")
    month_end = eb.benchmark(USCC, "2026-10", CLINKER, state, energy({day: 120 for day in range(31)}))
    withdrawn, changed = eb.judge(state, month_end, "370000", "3011")  # 108 kgce/t over the whole month
    assert changed and withdrawn["anomaly_id"] == warned["anomaly_id"] and withdrawn["severity"] == "INFO"
    assert "within the limit value 117" in withdrawn["detail"] and "the whole month" in withdrawn["detail"]
    # an enterprise never above its limit gets no event at all
    quiet = eb.new_state()
    eb.apply_production(quiet, figure(0, 1_000_000), "2026-10")
    assert eb.judge(quiet, eb.benchmark(USCC, "2026-10", CLINKER, quiet, energy({0: 100})), "370000", "3011")[0] is None


def test_the_months_to_judge_again_are_those_with_a_standard_from_the_watermark_month_on():
    state = eb.new_state()
    eb.apply_production(state, figure(0, 1000), "2026-10")
    eb.apply_production(state, {**figure(0, 1000), "product_code": "3412000000"}, "2026-10")  # no standard
    assert [(s.product_code, m) for s, m in eb.months_to_judge(state, "2026-10")] == [("3101010000", "2026-10")]
    assert eb.months_to_judge(state, "2026-11") == []


def test_state_keeps_thirteen_months_per_product():
    state = eb.new_state()
    for i in range(20):
        month = f"{2025 + (i + 9) // 12}-{(i + 9) % 12 + 1:02d}"
        start = month_start_ms(month)
        eb.apply_production(state, {**figure(0, 1000), "period_start": start, "period_end": start + DAY}, month)
    assert len(state["p"]) == eb.MONTHS_KEPT
