"""Vendors hear back, on the real stack: a second gateway run counts, a reused sequence is reported loudly,
and an enterprise's rejection report shows its own rejections and nobody else's."""

import json
import os
import sqlite3
import subprocess
import sys
import time

from confluent_kafka import Producer
from rich.console import Console

from ecmon import topics
from ecmon.kafka_clients import client_config
from ecmon.signing import generate_private_key
from ecmon_cli.demo import ledger_path, wait_for_reconciliation
from ecmon_gateway.sequences import sequences_path
from ecmon_gateway.signed_messages import encode_signed
from ecmon_simulator.ledger import Ledger
from ecmon_simulator.runs import FleetRun, run_fleet

FIRST = FleetRun(enterprises=3, start="2026-06", months=1, intervals_per_batch=96, seed=31)


def _send(settings, run) -> Ledger:
    ledger = Ledger.load(ledger_path(settings), settings.electricity_method)
    run_fleet(settings, run, ledger, show_progress=False)
    ledger.save(ledger_path(settings))
    return ledger


def _ecmon(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ecmon_cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **settings.process_env()}, timeout=600)


def test_a_second_gateway_run_after_a_first_counts(pipeline):
    _send(pipeline, FIRST)  # direct, as the demo sends
    # `ecmon gateway` (spooled) after it: the same gateways, the next month; their sequences go on
    done = _ecmon(pipeline, "gateway", "--enterprises", "3", "--start", "2026-07", "--seed", "31",
                  "--batch-intervals", "96", "--no-progress", "--feedback-wait", "20")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no batch of this run came back as duplicate_batch" in done.stdout
    ledger = Ledger.load(ledger_path(pipeline), pipeline.electricity_method)
    assert {p for _, p in ledger.by_province_month()} >= {"2026-06", "2026-07"}
    result = wait_for_reconciliation(pipeline, ledger, timeout=180, console=Console(), show_progress=False)
    assert result.exact, result.line()


def test_a_reused_sequence_is_reported_loudly_and_each_enterprise_sees_only_its_rejections(pipeline):
    a, b = FIRST.fleet()[0], FIRST.fleet()[1]
    _send(pipeline, FIRST)
    # Forced reuse: enterprise A's gateway loses its counter (as a reinstall without its state would) and sends
    # new readings (August) under sequences the platform already applied: refused, and none of them counted.
    # (The same readings again under the same sequences would be a resend, counted once, and not flagged.)
    with sqlite3.connect(sequences_path(pipeline.state_dir)) as db:
        db.execute("DELETE FROM sequences WHERE gateway_id = ?", (a.gateway_id,))
    done = _ecmon(pipeline, "gateway", "--enterprises", "3", "--enterprise", "1", "--start", "2026-08", "--seed", "31",
                  "--batch-intervals", "96", "--no-spool", "--no-progress", "--feedback-wait", "90")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "DUPLICATE SEQUENCES" in done.stdout and a.gateway_id in done.stdout

    # Enterprise B: a batch signed with a key it never registered.
    record = {"uscc": b.uscc, "gateway_id": b.gateway_id, "batch_id": "0b0b0b0b-0000-4000-8000-000000000001",
              "sequence": 10**6 - 1, "sent_at": int(time.time() * 1000), "key_id": b.key_id, "readings": []}
    producer = Producer(client_config(pipeline, "gateway"))
    producer.produce(topics.READINGS.name, key=b.uscc.encode(),
                     value=encode_signed("reading_batch", record, generate_private_key()))
    producer.flush(30)

    def reasons(uscc: str) -> dict[str, dict]:
        deadline = time.monotonic() + 90
        while True:
            out = _ecmon(pipeline, "report", "rejections", "--uscc", uscc, "--format", "json")
            assert out.returncode == 0, out.stdout + out.stderr
            rows = {r["reason"]: r for r in json.loads(out.stdout)["rows"]}
            if uscc != b.uscc or "bad_signature" in rows or time.monotonic() > deadline:
                return rows
            time.sleep(2)

    mine, theirs = reasons(a.uscc), reasons(b.uscc)
    assert mine["duplicate_batch"]["messages"] >= 1 and a.gateway_id in mine["duplicate_batch"]["example"]
    assert "bad_signature" not in mine
    # B's own: its bad signature (and the duplicate_reading notices of the fleet's second run above), never
    # A's duplicate_batch
    assert "bad_signature" in theirs and "duplicate_batch" not in theirs
    assert "0b0b0b0b" in theirs["bad_signature"]["example"]
    assert a.gateway_id not in json.dumps(theirs) and b.gateway_id not in json.dumps(mine)
    # an invalid USCC is one line with the fix (a usage error, as every report's bad argument), never a query
    bad = _ecmon(pipeline, "report", "rejections", "--uscc", "x' OR 1=1 --")
    assert bad.returncode == 2 and "not a valid USCC" in bad.stdout
