from datetime import date
from decimal import Decimal

from ecmon import codec
from ecmon.months import month_start_ms
from ecmon.uscc import make_uscc
from ecmon_reports.analyst import BENCHMARK_COLUMNS, benchmark_rows
from ecmon_sink.rows import COLUMNS, Rows

USCC = make_uscc("370100", 1)


def test_accepted_production_becomes_a_row_of_the_national_and_the_province_table():
    start = month_start_ms("2026-10")
    record = {"uscc": USCC, "gateway_id": "gw", "batch_id": "b1", "sent_at": start + 5, "key_id": "k",
              "signature": b"", "product_code": "3101010000", "product_name": "clinker", "quantity_milli": 1234500,
              "unit": "t", "period_start": start, "period_end": start + 86_400_000}
    rows = Rows("ecmon")
    rows.add_message("ecmon.production-accepted.v1", 0, 7, USCC.encode(), codec.encode("production_output", record))
    assert set(rows.tables) == {("ecmon", "production"), ("ecmon_370000", "production")}
    row = dict(zip(COLUMNS["production"], rows.tables[("ecmon", "production")][0]))
    assert row["period"] == date(2026, 10, 1) and row["province"] == "370000"
    assert row["quantity_milli"] == 1234500 and row["version"] == start + 5


def test_the_benchmark_report_judges_each_enterprise_and_product_exactly():
    coal = (["washed_coal", "steam"], ["t", "t"])  # washed coal 0.9 kgce/kg; steam is outside the clinker scope
    rows = [
        # uscc, name, province, industry, product, unit, quantity_milli, energy types, units, physical_milli
        ("A", "over", "370000", "3011", "3101010000", "t", 900_000, *coal, [150_000, 99_000]),  # 150 kgce/t > 117
        ("B", "under", "370000", "3011", "3101010000", "t", 1_000_000, *coal, [100_000, 5_000]),
        ("B", "under", "370000", "3011", "3101010000", "kg", 1_000_000_000, *coal, [100_000, 5_000]),  # +1000 t
        ("C", "edge", "210000", "3011", "3101010000", "t", 900_000, *coal, [117_000, 0]),  # exactly the limit: pass
        ("D", "tools", "210000", "3412", "3412000000", "piece", 1000, ["electricity"], ["kWh"], [10]),  # no standard
    ]
    out = [dict(zip(BENCHMARK_COLUMNS, r)) for r in benchmark_rows(rows)]
    assert [(r["uscc"], r["verdict"]) for r in out] == [("C", "pass"), ("A", "FAIL"), ("B", "pass")]
    a = out[1]
    assert a["kgce_per_unit"] == Decimal("150.00") and a["limit_kgce_per_unit"] == 117
    assert a["standard"] == "GB 16780-2021" and a["ratio"] == Decimal("1.282")
    assert a["coal_tce"] == Decimal("135.000") and a["energy_counted"] == "washed_coal"
    assert out[2]["output"] == Decimal("2000.000") and out[2]["kgce_per_unit"] == Decimal("45.00")
