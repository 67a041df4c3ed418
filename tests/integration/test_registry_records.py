"""Registry records through the real stack: bad records are dead letters and change
nothing (neither in the worker nor in the sink's ``enterprises`` table), a tombstone stops nothing, and a mid-year
re-registration leaves a closed month as it was.

A province no other test uses and enterprises of a seed of their own per run (so the test can run again
on the same stack). G sends February and March 2026 (February closes: the province's event time passes its end plus
grace); then the crafted records and a re-registration of G from 16 March are published; then K sends
April, which closes March. March's expected intervals must come from both of G's records (the whole
month), February's report must not change, and G's totals must equal what its gateway sent.
"""

from __future__ import annotations

import time

import pytest
from own_stack import province_without_data

from ecmon import codec, signing, topics
from ecmon.kafka_clients import client_config
from ecmon.uscc import make_uscc
from ecmon_gateway.delivery import BatchProducer
from ecmon_ops.stack.apps import app_process
from ecmon_ops.stack.process import wait_until
from ecmon_registry import keys as registry_keys
from ecmon_reports import analyst
from ecmon_simulator.ledger import Ledger
from ecmon_simulator.runs import FleetRun, run_fleet
from ecmon_sink.clickhouse import connect

pytestmark = pytest.mark.integration

#: Provinces no other test on the side stack uses (test_closed_months closes months there too: a province whose
#: event time another test moved to May closed February at once, with a third of its readings); each run takes
#: the first still without data, as a closed month stays closed on a stack that is kept between runs.
PROVINCES = ("110000", "120000", "130000", "140000", "220000", "230000", "340000", "350000", "360000", "410000")
REGISTRY = topics.REGISTRY.name


def _fleet(province: str, seed: int, **kw) -> FleetRun:
    return FleetRun(enterprises=2, provinces=(province,), seed=seed, production=False, **kw)


def _report_row(client, db: str, uscc: str, period: str) -> tuple | None:
    rows = client.execute(
        f"SELECT version, received, expected, completeness_bp FROM {db}.monthly_report_enterprises "
        f"WHERE uscc = %(u)s AND period = toDate(%(p)s) AND version > 0 ORDER BY version DESC LIMIT 1",
        {"u": uscc, "p": f"{period}-01"})
    return rows[0] if rows else None


def _enterprise_coal(client, db: str, uscc: str) -> dict[str, int]:
    rows = client.execute(
        f"SELECT toString(period), sum(c) FROM (SELECT period, energy_type, unit, argMax(coal_mgce, version) AS c "
        f"FROM {db}.aggregates_monthly WHERE level = 'ENTERPRISE' AND entity = %(u)s "
        f"GROUP BY period, energy_type, unit) GROUP BY period", {"u": uscc})
    return {p[:7]: int(c) for p, c in rows}


def test_bad_registry_records_are_dead_letters_and_history_keeps_closed_months(side_pipeline):
    settings = side_pipeline
    db = settings.clickhouse_database
    client = connect(settings)
    province = province_without_data(settings, PROVINCES)
    seed = 450_000 + int(time.time()) % 100_000
    first = _fleet(province, seed, start="2026-02", months=2, only_enterprise=1)
    g, k = _fleet(province, seed).fleet()
    ledger = Ledger(electricity_method=settings.electricity_method)
    run_fleet(settings, first, ledger, show_progress=False)
    sent: dict[str, int] = {}
    for (_p, _uscc, _e, _u, period), (_x, mgce, _n) in ledger.totals.items():
        sent[period] = sent.get(period, 0) + mgce
    assert wait_until(lambda: _report_row(client, db, g.uscc, "2026-02") is not None, 180, 1.0), \
        "February 2026 was not closed"
    february = _report_row(client, db, g.uscc, "2026-02")
    assert february[3] == 10_000 and february[1] == february[2] > 0

    # -- the crafted records, published by the registry role
    authority = signing.registry_authority(settings.state_dir)
    record = registry_keys.registered_record(settings.state_dir, g.uscc)
    other, third = make_uscc("450300", seed * 10 + 1), make_uscc("450300", seed * 10 + 2)
    bad = [
        ("differs from the record's USCC", other.encode(), signing.sign_registry_record(record, authority),
         "invalid_registry_record"),
        ("six-digit", g.uscc.encode(), signing.sign_registry_record({**record, "region_code": ""}, authority),
         "invalid_registry_record"),
        ("not among the record's own public keys", g.uscc.encode(),
         signing.sign_registry_record({**record, "key_id": k.key_id}, authority), "invalid_registry_record"),
        ("no registry authority signature", g.uscc.encode(), {**record, "name": "Forged", "registry_signature": b""},
         "unsigned_registry_record"),
    ]
    producer = BatchProducer(client_config(settings, "registry"))
    for _, key, value, _ in bad:
        producer.send(REGISTRY, key, codec.encode("enterprise_record", value))
    # an enterprise registered and then withdrawn: the worker applies the tombstone, the sink records it
    third_record = {**record, "uscc": third, "public_keys": [], "key_id": "none"}
    third_key = signing.public_key_raw(signing.generate_private_key())
    third_record["public_keys"] = [registry_keys.new_key_entry("k-third", third_key, record["valid_from"])]
    third_record["key_id"] = "k-third"
    producer.send(REGISTRY, third.encode(), codec.encode("enterprise_record",
                                                        signing.sign_registry_record(third_record, authority)))
    producer.send(REGISTRY, third.encode(), None)
    # G re-registered from 16 March (CST), a valid signed record
    march_16 = first.start_ms + (28 + 15) * 86_400_000
    march_record = signing.sign_registry_record({**record, "valid_from": march_16}, authority)
    record_versions = {"march": march_record["issued_at"]}
    producer.send(REGISTRY, g.uscc.encode(), codec.encode("enterprise_record", march_record))
    producer.flush()

    # -- K sends April: the province's event time passes March's end plus grace
    april = _fleet(province, seed, start="2026-04", months=1, only_enterprise=2)
    run_fleet(settings, april, Ledger(), show_progress=False)
    assert wait_until(lambda: _report_row(client, db, g.uscc, "2026-03") is not None, 180, 1.0), \
        "March 2026 was not closed"

    def letters() -> dict[bytes, list[tuple[str, str]]]:
        rows = client.execute(f"SELECT DISTINCT message_key, reason, detail FROM {db}.dead_letters "
                              f"WHERE source_topic = %(t)s AND message_key IN %(k)s",
                              {"t": REGISTRY, "k": (g.uscc, other, third)})
        out: dict = {}
        for key, reason, detail in rows:
            out.setdefault(key, []).append((reason, detail))
        return out

    def all_there() -> bool:
        found = letters()
        return all(any(r == reason and says in d for r, d in found.get(key.decode(), []))
                   for says, key, _, reason in bad) and any(r == "tombstone" for r, _ in found.get(third, []))

    assert wait_until(all_there, 60, 1.0), letters()
    # the sink refused them too (the same checks as the worker): none is a row of `enterprises`, whose
    # version is the record's issued_at
    bad_versions = tuple(value["issued_at"] for _, _, value, _ in bad if value.get("issued_at"))
    assert client.execute(
        f"SELECT uscc, name, region_code, version FROM {db}.enterprises WHERE uscc = %(o)s OR name = 'Forged' "
        f"OR (uscc = %(g)s AND (region_code = '' OR version IN %(v)s))",
        {"o": other, "g": g.uscc, "v": bad_versions}) == []
    assert wait_until(lambda: client.execute(
        f"SELECT count() FROM {db}.enterprises WHERE uscc = %(g)s AND version = %(v)s",
        {"g": g.uscc, "v": record_versions["march"]})[0][0] > 0, 60, 1.0), "the valid re-registration is no row"

    # nothing of the bad records took effect, and the worker is up
    assert app_process(settings, "worker").pid() is not None
    march = _report_row(client, db, g.uscc, "2026-03")
    intervals = 31 * 96 * len(g.meters)
    assert march[2] == intervals, "March expected intervals must come from both records in force"
    assert march[1] == intervals and march[3] == 10_000
    assert _report_row(client, db, g.uscc, "2026-02") == february
    assert wait_until(lambda: _enterprise_coal(client, db, g.uscc) == sent, 60, 1.0), \
        (_enterprise_coal(client, db, g.uscc), sent)
    # `ecmon report completeness` shows the same figures, never above 100 %
    for period in ("2026-02", "2026-03"):
        rows = client.execute(analyst.sql("completeness", db), analyst.parameters(period))
        [row] = [r for r in rows if r[0] == g.uscc]
        assert 0 < row[5] <= row[4] and row[4] == _report_row(client, db, g.uscc, period)[2]
