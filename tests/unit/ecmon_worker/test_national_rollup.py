"""National rollup: province rows in, exact national totals out, under replays and reordering."""

import random

from ecmon_worker import national_rollup as nr


def province_row(province, version, mgce, industry="*", period="2026-10"):
    return {"level": "PROVINCE", "entity": province, "province": province, "industry_code": industry,
            "energy_type": "electricity", "unit": "kWh", "period": period, "physical_milli": mgce * 10,
            "coal_mgce": mgce, "readings": version, "version": version}


def test_national_totals_keep_each_provinces_latest_version_under_replays():
    rng = random.Random(1)
    messages, latest = [], {}
    for version in range(1, 40):
        province = rng.choice(["210000", "310000", "370000"])
        mgce = latest.get(province, 0) + rng.randrange(1, 1000)
        latest[province] = mgce
        messages.append([province_row(province, version, mgce), province_row(province, version, mgce, "3120")])
    delivery = messages + rng.sample(messages, 15)
    rng.shuffle(delivery)
    state = nr.new_state()
    for rows in delivery:
        nr.apply_province_rows(state, rows)
    # replace-if-higher: whatever the order, each province contributes its highest version
    assert state["totals"]["*|electricity|kWh|2026-10"][1] == sum(latest.values())
    assert state["totals"]["3120|electricity|kWh|2026-10"][1] == sum(latest.values())
    rows = nr.national_aggregates(state, ["*|electricity|kWh|2026-10"])
    assert rows[0]["level"] == "NATIONAL" and rows[0]["entity"] == "CN" and rows[0]["coal_mgce"] == sum(latest.values())


def test_a_replayed_message_changes_nothing_and_is_re_emitted():
    state = nr.new_state()
    rows = [province_row("210000", 3, 100), {**province_row("210200", 3, 50), "level": "PREFECTURE"}]
    first = nr.apply_province_rows(state, rows)
    v = state["v"]
    assert nr.apply_province_rows(state, rows) == first == ["*|electricity|kWh|2026-10"]
    assert state["v"] == v and state["totals"]["*|electricity|kWh|2026-10"][1] == 100  # prefecture rows ignored
