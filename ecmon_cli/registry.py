"""`ecmon targets` and `ecmon keys`: what the registry authority publishes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ecmon_cli.common import cli_settings, console, fail

targets_app = typer.Typer(help="Energy-consumption targets of provinces and quotas of enterprises.",
                          no_args_is_help=True)


@targets_app.command("publish")
def targets_publish(
    path: Annotated[Path, typer.Argument(
        help="Targets file (TOML, one [[target]] per target; see docs/anomalies.md).")],
) -> None:
    """Publish targets to the compacted targets topic; the worker's early warning uses them at once."""
    from ecmon_registry.targets import BadTargets, load_targets, publish_targets

    settings = cli_settings()
    try:
        records = load_targets(path)
    except BadTargets as exc:
        fail(str(exc))
    from ecmon.kafka_clients import client_config

    count = publish_targets(client_config(settings, "registry"), records)
    console.print(f"published {count} target(s) to {settings.bootstrap_servers}")


keys_app = typer.Typer(help="Enterprises' signing keys in the registry: list, rotate, revoke (interface standard, "
                        "section 4).", no_args_is_help=True)
UsccArg = Annotated[str, typer.Argument(help="The enterprise's USCC.")]


def _print_keys(record: dict) -> None:
    import time

    from ecmon import signing

    def when(ms: int | None) -> str:
        return "" if ms is None else signing.format_ms(ms)

    table = Table(title=f"signing keys of {record['uscc']} (gateways sign with {record['key_id']})")
    for column in ("key_id", "public key (hex)", "valid_from", "valid_until", "revoked_at", "counts now"):
        table.add_column(column)
    now = int(time.time() * 1000)
    for k in record["public_keys"]:
        problem = signing.key_problem(record, k["key_id"], now)
        table.add_row(k["key_id"], k["public_key"].hex(), when(k["valid_from"]), when(k["valid_until"]),
                      when(k["revoked_at"]), "yes" if problem is None else f"no: {problem}")
    console.print(table)


@keys_app.command("list")
def keys_list(uscc: UsccArg) -> None:
    """The enterprise's keys as the registry last published them, and whether each counts now."""
    from ecmon_registry.keys import KeyOperationError, registered_record

    try:
        _print_keys(registered_record(cli_settings().state_dir, uscc))
    except KeyOperationError as exc:
        fail(str(exc))


@keys_app.command("rotate")
def keys_rotate(
    uscc: UsccArg,
    overlap_days: Annotated[float, typer.Option(help="Days the old key stays valid beside the new one.")] = 7.0,
    public_key: Annotated[str | None, typer.Option(
        help="Hex of the new Ed25519 public key the enterprise generated "
             "(default: generate the pair in the simulator's key store).")] = None,
    key_id: Annotated[str | None, typer.Option(help="The new key's id (default: key-<USCC>-<UTC time>).")] = None,
) -> None:
    """Register a new key and publish the record naming it; the old key stays valid for the overlap."""
    from ecmon_gateway.delivery import DeliveryFailed
    from ecmon_registry.keys import DAY_MS, KeyOperationError, rotate_enterprise

    try:
        raw = bytes.fromhex(public_key) if public_key is not None else None
    except ValueError:
        fail("--public-key must be hex (64 digits for an Ed25519 public key)")
    try:
        record = rotate_enterprise(cli_settings(), uscc, int(overlap_days * DAY_MS), raw, key_id)
    except (KeyOperationError, ValueError, DeliveryFailed, FileExistsError) as exc:
        fail(str(exc))
    _print_keys(record)


@keys_app.command("revoke")
def keys_revoke(
    uscc: UsccArg,
    key_id: Annotated[str, typer.Argument(help="The key to revoke.")],
    at: Annotated[str | None, typer.Option(help="From when (ISO 8601 or epoch ms; default: now). Batches "
                                              "already counted stay counted.")] = None,
) -> None:
    """Revoke a key: batches signed with it whose Kafka record time is at or after --at are bad_signature."""
    from ecmon_gateway.delivery import DeliveryFailed
    from ecmon_registry.keys import KeyOperationError, parse_time, revoke_enterprise

    try:
        record = revoke_enterprise(cli_settings(), uscc, key_id, parse_time(at) if at else None)
    except (KeyOperationError, DeliveryFailed) as exc:
        fail(str(exc))
    _print_keys(record)
