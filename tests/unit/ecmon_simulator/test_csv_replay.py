"""CSV replay: columns, time format and meter mapping from the config; tested on a real NAB series."""


import pytest

from ecmon import PROJECT_ROOT
from ecmon_simulator.csv_replay import ReplayConfig, ReplayError, plan_replay

CONFIG = PROJECT_ROOT / "producers" / "ecmon_simulator" / "replay-nab.toml"
NAB = PROJECT_ROOT.parent / "shared" / "data" / "nab" / "realAWSCloudwatch" / "ec2_cpu_utilization_24ae8d.csv"


@pytest.mark.skipif(not NAB.exists(), reason="NAB data not present")
def test_a_nab_series_becomes_interval_electricity_batches_in_time_order():
    cfg = ReplayConfig.load(CONFIG)
    ent, batches = plan_replay(cfg, [NAB])
    readings = [r for b in batches for r in b.readings]
    assert len(readings) == 4032
    assert {(r["energy_type"], r["unit"], r["kind"]) for r in readings} == {("electricity", "kWh", "INTERVAL")}
    assert [r["ts"] for r in readings] == sorted(r["ts"] for r in readings)
    assert readings[0]["ts"] == 1392388200000  # 2014-02-14 14:30:00 UTC
    assert readings[0]["value_milli"] == 2640  # 0.132 % x 20 kWh, exact
    assert all(len(b.readings) <= cfg.intervals_per_batch for b in batches)
    assert [b.sequence for b in batches] == list(range(1, len(batches) + 1))
    assert ent.meters[0].meter_id == NAB.stem


def test_columns_time_format_and_zone_come_from_the_config(tmp_path):
    csv = tmp_path / "plant.csv"
    csv.write_text("when;meter;kwh\n")  # header only: the parser must say what is wrong
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(
        '[source]\ntimestamp_column = "when"\nmeter_column = "meter"\nvalue_column = "kwh"\n'
        'time_format = "%d.%m.%Y %H:%M"\ntimezone = "+08:00"\ninterval_s = 900\n'
        '[enterprise]\nregion_code = "370102"\nserial = 5\n'
        '[[meters]]\nmatch = "gas-*"\nenergy_type = "natural_gas"\nunit = "m3"\n'
        '[[meters]]\nmatch = "*"\nenergy_type = "electricity"\nunit = "kWh"\n'
    )
    csv.write_text("when,meter,kwh\n12.10.2026 08:15,main,1.5\n12.10.2026 08:15,gas-1,2\n12.10.2026 08:00,main,1\n")
    cfg = ReplayConfig.load(cfg_path)
    _, batches = plan_replay(cfg, [csv])
    readings = batches[0].readings
    assert readings[0]["ts"] == 1791763200000  # 08:00 CST = 00:00 UTC
    assert {(r["meter_id"], r["energy_type"]) for r in readings} == {("main", "electricity"), ("gas-1", "natural_gas")}
    bad = tmp_path / "bad.toml"
    bad.write_text('[[meters]]\nenergy_type = "electricity"\nunit = "t"\n')
    with pytest.raises(ReplayError):
        ReplayConfig.load(bad)
