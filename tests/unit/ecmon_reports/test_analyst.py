"""Report output a spreadsheet and a program read correctly: CSV with a BOM, JSON with numbers."""

import csv
import io
import json
from decimal import Decimal

from ecmon_reports.analyst import Report, coverage_rows

REPORT = Report("Largest energy consumers", ["uscc", "name", "coal_tce", "coal_mgce", "ratio", "yoy_change_pct"],
                [["91370100MA0000000X", "济南钢铁", Decimal("1234.568"), 1_234_567_891_234, Decimal("0.970"), None]])


def test_csv_starts_with_a_bom_for_excel_unless_asked_not_to():
    text = REPORT.csv()
    assert text.startswith("\ufeffuscc,name,")
    assert text.encode("utf-8")[:3] == b"\xef\xbb\xbf"
    assert list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))[1][1] == "济南钢铁"
    assert not REPORT.csv(bom=False).startswith("\ufeff")


def test_json_figures_are_numbers():
    row = json.loads(REPORT.json())["rows"][0]
    assert row["coal_tce"] == 1234.568 and isinstance(row["coal_tce"], float)
    assert row["coal_mgce"] == 1_234_567_891_234 and isinstance(row["coal_mgce"], int)
    assert row["ratio"] == 0.97 and row["yoy_change_pct"] is None and row["name"] == "济南钢铁"


def test_coverage_gives_each_record_its_end_and_drops_records_superseded_before_the_month():
    columns = ["uscc", "name", "valid_from_utc"]
    rows = [["A" * 18, "old", "2025-01-01 00:00:00"], ["A" * 18, "mid", "2026-03-01 00:00:00"],
            ["A" * 18, "new", "2026-10-31 16:00:00"], ["B" * 18, "only", "2026-01-01 00:00:00"]]
    out, cols = coverage_rows(rows, columns, "2026-10")
    assert cols[-2:] == ["valid_to_utc", "in_force_in_month"]
    assert [(r[1], r[3], r[4]) for r in out] == [
        ("mid", "2026-10-31 16:00:00", "yes"), ("new", "", "from a later month"), ("only", "", "yes")]
