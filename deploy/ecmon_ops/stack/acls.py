"""Kafka users and ACLs of the local stack in scram mode, made equal to ecmon/principals.py.

Run by `ecmon stack up` after the topics exist, as the administrator (a super user whose SCRAM
credentials were written at format time). Repeating it is harmless: passwords are upserted from the
secrets file (so rotating a password there and running `stack up` again takes effect), declared ACLs are
created, and any ACL of an ecmon user that is no longer declared is deleted.
"""

from __future__ import annotations

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from ecmon.kafka_clients import SCRAM_ITERATIONS, client_config, credentials
from ecmon.principals import Principal, principals
from ecmon.settings import Settings
from ecmon_ops.stack.process import ServiceError, wait_until

_RESOURCE = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}


def bindings(principal: Principal) -> list[AclBinding]:
    return [
        AclBinding(_RESOURCE[g.resource], g.name, ResourcePatternType.LITERAL, principal.principal, "*",
                   AclOperation[g.operation], AclPermissionType.ALLOW)
        for g in principal.grants()
    ]


def _key(b: AclBinding) -> tuple:
    return (b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation, b.permission_type)


def apply(settings: Settings) -> dict[str, int]:
    """Create or update every client role's SCRAM user and make its ACLs exactly the declared ones.
    Returns the number of ACLs created and deleted."""
    admin = AdminClient({**client_config(settings, "admin"), "log_level": 3})
    roles = principals(settings.worker_app_id, settings.sink_group)
    upserts: list[UserScramCredentialAlteration] = []
    for role, principal in roles.items():
        creds = credentials(settings, role)
        assert creds is not None  # authenticated Kafka (setup refuses insecure mode): every role has a user
        if creds.username != principal.username:
            raise ServiceError(f"the secrets file names user {creds.username!r} for role {role}, "
                               f"ecmon/principals.py declares {principal.username!r}")
        upserts.append(UserScramCredentialUpsertion(
            creds.username, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
            creds.password.encode()))
    for user, future in admin.alter_user_scram_credentials(upserts).items():
        try:
            future.result()
        except Exception as exc:  # the message names the user, never the password
            raise ServiceError(f"creating Kafka user {user} failed: {exc}") from exc

    wanted = {_key(b): b for p in roles.values() for b in bindings(p)}
    ours = {p.principal for p in roles.values()}
    existing = admin.describe_acls(AclBindingFilter(
        # None matches any value (the library's documentation); its annotations say str.
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY,  # type: ignore[arg-type]
    )).result(timeout=30)
    have = {_key(b) for b in existing}
    stale = [b for b in existing if b.principal in ours and _key(b) not in wanted]
    missing = [b for k, b in wanted.items() if k not in have]
    try:
        if missing:
            for future in admin.create_acls(missing, request_timeout=30).values():
                future.result()
        if stale:
            filters = [AclBindingFilter(*_key(b)) for b in stale]
            for future in admin.delete_acls(filters, request_timeout=30).values():
                future.result()
    except Exception as exc:
        raise ServiceError(f"applying the Kafka ACLs of ecmon/principals.py failed: {exc}") from exc
    _wait_until_every_broker_knows(settings, roles)
    return {"created": len(missing), "deleted": len(stale)}


def _wait_until_every_broker_knows(settings: Settings, roles: dict[str, Principal], timeout: float = 90) -> None:
    """Each broker applies new users and ACLs from the metadata log on its own time; a client started right
    after `stack up` may ask any of them, so wait until every broker lets every role see its first topic."""
    probes = [
        (role, address, next(iter(p.produces or p.consumes)))
        for role, p in roles.items() for address in settings.broker_addresses
    ]

    def known(role: str, address: str, topic: str) -> bool:
        client = AdminClient({**client_config(settings, role, address), "log_level": 0})
        return client.list_topics(topic, timeout=5).topics[topic].error is None

    pending = list(probes)

    def all_known() -> bool:
        pending[:] = [probe for probe in pending if not known(*probe)]
        return not pending

    # 90 s, not 30: right after the topics are created the controller is still writing the records of every
    # partition (24 per topic since issue 19), and on a loaded 2-core machine the users and ACLs queue behind them.
    if not wait_until(all_known, timeout):
        raise ServiceError(f"Kafka users or ACLs did not reach every broker within {timeout:.0f}s: {pending[:3]}")
