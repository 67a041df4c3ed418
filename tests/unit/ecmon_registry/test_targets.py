"""Targets files: what an authority's file must say, and what the worker receives."""

from __future__ import annotations

import pytest

from ecmon import codec
from ecmon_registry.targets import BadTargets, load_targets, target_key


def _write(tmp_path, text: str):
    path = tmp_path / "targets.toml"
    path.write_text(text)
    return path


def test_a_province_target_becomes_an_exact_record(tmp_path):
    (record,) = load_targets(_write(tmp_path, """
[[target]]
scope = "PROVINCE"
entity_code = "370000"
year = 2026
month = 10
tce = 1234.000000001
document = "plan"
"""))
    assert record["coal_mgce"] == 1_234_000_000_001
    assert target_key(record) == "PROVINCE/370000/2026/10"
    assert codec.decode(codec.encode("target", record), expected="target")[1]["coal_mgce"] == record["coal_mgce"]


@pytest.mark.parametrize(("entry", "says"), [
    ('scope = "PROVINCE"\nentity_code = "370100"\nyear = 2026\nmonth = 10\ntce = 1', "not a province code"),
    ('scope = "ENTERPRISE"\nentity_code = "X"\nyear = 2026\nmonth = 10\ntce = 1', "not a valid USCC"),
    ('scope = "CITY"\nentity_code = "370000"\nyear = 2026\nmonth = 10\ntce = 1', "scope must be"),
    ('scope = "PROVINCE"\nentity_code = "370000"\nyear = 2026\nmonth = 13\ntce = 1', "month must be"),
    ('scope = "PROVINCE"\nentity_code = "370000"\nyear = 2026\nmonth = 1\ntce = -1', "tce must be positive"),
    ('scope = "PROVINCE"\nentity_code = "370000"\nyear = 2026\ntce = 1', "missing 'month'"),
])
def test_a_bad_entry_is_named_with_the_fix(tmp_path, entry, says):
    with pytest.raises(BadTargets, match=says):
        load_targets(_write(tmp_path, f"[[target]]\n{entry}\n"))


def test_an_empty_file_says_what_it_lacks(tmp_path):
    with pytest.raises(BadTargets, match=r"no \[\[target\]\]"):
        load_targets(_write(tmp_path, "title = 'nothing'\n"))
