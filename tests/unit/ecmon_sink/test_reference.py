"""The analysts' name tables and data dictionary come from the kernel's code lists (migration 0012)."""

from ecmon_sink import reference
from ecmon_sink.rows import COLUMNS


def test_name_tables_hold_chinese_names_for_every_code():
    rows = reference.reference_rows()
    regions = {r[0]: r for r in rows["regions"]}
    assert regions["370000"][1] == "山东省" and regions["370102"][3] == "370000"
    assert ("3120", "炼钢", "Steel making", "31") in rows["industries"]
    energy = {r[0]: r for r in rows["energy_types"]}
    assert energy["electricity"][1] == "电力" and energy["electricity"][4] == "0.1229"
    units = {r[0]: r for r in rows["units"]}
    assert units["kWh"][1] == "千瓦时" and units["kWh"][4:] == ("MWh", 1_000_000)
    steel = {r[0]: r for r in rows["quota_standards"]}["3206010100"]
    assert steel[4] == "86" and steel[6] == "GB 32050-2015"


def test_every_table_the_sink_writes_is_described():
    described = {table for table, *_ in reference.dictionary_rows()}
    assert set(COLUMNS) <= described
    for table, columns in COLUMNS.items():
        about = reference.DICTIONARY[table][1]
        missing = [c for c in columns if c not in about and c not in reference.COMMON and c not in reference._KEY]
        assert len(missing) <= len(columns) // 2, (table, missing)  # the figures at least are explained
