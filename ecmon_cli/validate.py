"""`ecmon validate FILE`: a gateway's messages checked offline against the contract, as the platform would."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from ecmon_cli.common import console, fail


def validate(
    files: Annotated[list[Path], typer.Argument(
        help="A raw message (Avro single-object bytes) or JSON lines of {\"key\": USCC, \"value\": base64} "
             "(docs/test-vectors/README.md); the messages of a file are checked in order.", exists=True,
        dir_okay=False)],
    registry_record: Annotated[Path | None, typer.Option(
        help="The enterprise's registry record: an encoded EnterpriseRecord, or its JSON (public keys in hex).",
        exists=True, dir_okay=False)] = None,
    public_key: Annotated[str | None, typer.Option(
        help="Instead of a record: the enterprise's Ed25519 public key (64 hex digits); meters are then not "
             "checked against a registration.")] = None,
    key_id: Annotated[str | None, typer.Option(help="With --public-key: its key_id (default: the message's).")] = None,
    at: Annotated[str | None, typer.Option(
        help="The Kafka record time the signing key must be valid at (ISO 8601; default: each message's "
             "sent_at).")] = None,
) -> None:
    """Check gateway messages (reading batches, production output) offline: decoding, key, signature, identity,
    sequence, readings; one line per failure with its reason code. Exit 1 when any message would not fully count."""
    from ecmon import codec
    from ecmon_worker import offline_check

    if (registry_record is None) == (public_key is None):
        fail("give the enterprise's --registry-record FILE, or its --public-key HEX (one of them)")
    at_ms = None
    if at is not None:
        try:
            at_ms = int(datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            fail(f"--at {at!r} is not an ISO 8601 time such as 2026-11-01T00:00:00+08:00")
    try:
        record = offline_check.read_registry_record(registry_record) if registry_record is not None else None
        batches = [(path, offline_check.read_messages(path)) for path in files]
    except offline_check.BadInputFile as exc:
        fail(str(exc))
    bad = total = 0
    for path, messages in batches:
        enterprises: dict[str, offline_check.Enterprise] = {}  # each file is its own stream of messages
        for m in messages:
            total += 1
            try:
                uscc = str(codec.decode(m.value, None)[1].get("uscc", ""))
                named_key = str(codec.decode(m.value, None)[1].get("key_id", ""))
            except codec.CodecError:
                uscc, named_key = "", ""
            if uscc not in enterprises:
                if record is not None:
                    enterprises[uscc] = offline_check.Enterprise(record)
                else:
                    try:
                        raw = bytes.fromhex(public_key or "")
                    except ValueError:
                        fail(f"--public-key is not hex: {public_key!r}")
                    if len(raw) != 32:
                        fail(f"--public-key has {len(raw)} bytes; an Ed25519 public key has 32 (64 hex digits)")
                    enterprises[uscc] = offline_check.Enterprise.from_public_key(uscc, key_id or named_key, raw)
            verdict = offline_check.check_message(m.value, m.key, enterprises[uscc], at_ms)
            where = f"{path}:{m.line}" if m.line else str(path)
            status = "[green]ok[/]" if verdict.accepted else "[bold red]REJECTED[/]"
            console.print(f"{where}: {status} {verdict.label}: {verdict.counted} reading(s) counted"
                          if verdict.kind == "reading_batch" and verdict.accepted
                          else f"{where}: {status} {verdict.label}", highlight=False, soft_wrap=True)
            for f in verdict.findings:
                console.print(f"  - {f.line()}", highlight=False, soft_wrap=True)
            for note in verdict.notes:
                console.print(f"  note: {note}", highlight=False, soft_wrap=True)
            if m.expect is not None and sorted(m.expect) != verdict.reasons:
                console.print(f"  [yellow]the file expects {m.expect or 'acceptance'}[/]", highlight=False)
            bad += not verdict.accepted
    console.print(f"{total - bad} of {total} message(s) accepted", style="bold green" if not bad else "bold red")
    if bad:
        raise typer.Exit(1)
