"""`ecmon report` edges: one-line errors with the fix and their exit status, formats."""

import pytest
import typer
from clickhouse_driver import errors

from ecmon.settings import Settings
from ecmon_cli import report_output
from ecmon_reports.analyst import Report
from ecmon_sink.clickhouse import ClickHouseUnavailable

SETTINGS = Settings(clickhouse_user="analyst_370000")


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-10", "2026/10", "oct"])
def test_a_bad_month_is_one_line_and_exit_2(month, capsys):
    with pytest.raises(typer.Exit) as exc:
        report_output.check_month(month)
    assert exc.value.exit_code == 2
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "YYYY-MM" in out


def test_a_good_month_passes():
    assert report_output.check_month("2026-10") == "2026-10"


@pytest.mark.parametrize("code, words", [
    (193, "ECMON_CLICKHOUSE_PASSWORD"), (192, "ECMON_CLICKHOUSE_USER"), (516, "password"),
    (291, "--province"), (497, "--province"), (60, "ecmon db migrate")])
def test_server_refusals_name_the_fix_without_the_server_stack(code, words):
    exc = errors.ServerException(
        "DB::Exception: refused.\nStack trace:\n0. clickhouse-server(StackTrace::StackTrace()+0x16)", code=code)
    line = report_output.explain(exc, SETTINGS, "ecmon_210000")
    assert line is not None and words in line and "\n" not in line and "StackTrace" not in line


def test_a_server_that_is_down_or_drops_the_connection_is_one_line():
    assert "ecmon stack up" in report_output.explain(ClickHouseUnavailable("not reachable ... `ecmon stack up`"),
                                                     SETTINGS)
    line = report_output.explain(errors.NetworkError("Connection reset"), SETTINGS)
    assert line is not None and "ecmon stack status" in line


def test_other_errors_are_not_swallowed():
    assert report_output.explain(KeyError("x"), SETTINGS) is None
    with pytest.raises(KeyError), report_output.clickhouse_errors(SETTINGS):
        raise KeyError("x")


def test_csv_goes_out_as_utf8_with_a_bom(capsysbinary):
    report_output.emit(Report("t", ["name"], [["济南钢铁"]]), "csv")
    assert capsysbinary.readouterr().out == "\ufeffname\r\n济南钢铁\r\n".encode()
    report_output.emit(Report("t", ["name"], [["济南钢铁"]]), "csv", bom=False)
    assert capsysbinary.readouterr().out.startswith(b"name")
