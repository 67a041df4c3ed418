from ecmon.months import month_of, month_of_interval, month_start_ms, next_period


def test_month_is_china_standard_time():
    start = month_start_ms("2026-10")  # 2026-09-30 16:00 UTC
    assert month_of(start) == "2026-10"
    assert month_of(start - 1) == "2026-09"


def test_interval_ending_at_midnight_belongs_to_the_closing_month():
    assert month_of_interval(month_start_ms("2026-11")) == "2026-10"


def test_next_period_rolls_over_the_year():
    assert next_period("2026-12") == "2027-01"
