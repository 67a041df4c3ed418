#!/bin/sh
# Starts one apache/kafka broker of deploy/compose/docker-compose.yml with the local stack's security
# (deploy/ecmon_ops/stack/services.py KafkaBroker._listener_props and _bootstrap_scram; docs/security.md):
#
# - every KAFKA_* variable of the service becomes a property (KAFKA_FOO_BAR -> foo.bar, `__` -> `_`,
#   `___` -> `-`), as the image's own entrypoint would do; *_OPTS variables stay with the JVM scripts;
# - the JAAS lines, which hold the brokers' password, are written here from the mounted compose secret
#   /run/secrets/kafka-broker-password (never from the compose file or the environment): SCRAM-SHA-512 for
#   inter-broker traffic, SASL/PLAIN with the brokers' one static user on the controller listener (a
#   controller must authenticate its peers before it has read the SCRAM users from the metadata, KAFKA-15513);
# - the storage is formatted once, with the SCRAM users of the brokers and of the administrator
#   (--add-scram); the administrator (the kafka-setup service) then creates every other user and the ACLs;
# - then it execs kafka-server-start.sh.
#
# The properties file holds the password: it is written 0600 to a private directory under /tmp.
set -eu
umask 077

SECRETS=${SECRETS_DIR:-/run/secrets}   # SECRETS_DIR and TOOLS_DIR: for tests/unit/ecmon_ops/test_deploy_files.py
: "${BROKER_USER:?BROKER_USER (the brokers' SCRAM user, ecmon/principals.py BROKER_USER) is not set}"
: "${ADMIN_USER:?ADMIN_USER (the administrator's SCRAM user, ecmon/principals.py ADMIN_USER) is not set}"
: "${CLUSTER_ID:?CLUSTER_ID is not set}"
: "${KAFKA_LOG_DIRS:?KAFKA_LOG_DIRS is not set}"
MECHANISM=SCRAM-SHA-512
TOOLS=${TOOLS_DIR:-/opt/kafka/bin}

secret() {
  file="$SECRETS/$1"
  [ -r "$file" ] || { echo "kafka-start: cannot read the secret $file; run python -m ecmon_ops.stack.credentials deploy/compose/secrets" >&2; exit 1; }
  value=$(cat "$file")
  [ -n "$value" ] || { echo "kafka-start: the secret $file is empty" >&2; exit 1; }
  printf '%s' "$value"
}

BROKER_PASSWORD=$(secret kafka-broker-password)
ADMIN_PASSWORD=$(secret kafka-admin-password)

CONF_DIR=$(mktemp -d /tmp/kafka-conf.XXXXXX)
PROPS="$CONF_DIR/server.properties"

# KAFKA_* -> properties. `env` lists one variable per line; none of ours has a newline in its value.
env | grep '^KAFKA_' | while IFS= read -r line; do
  name=${line%%=*}
  value=${line#*=}
  case "$name" in
    *_OPTS|KAFKA_DEBUG|KAFKA_JMX_PORT) continue ;;
  esac
  key=$(printf '%s' "${name#KAFKA_}" | tr 'A-Z' 'a-z' | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')
  printf '%s=%s\n' "$key" "$value"
done >"$PROPS"

# The JAAS lines, per listener (see KAFKA_LISTENER_SECURITY_PROTOCOL_MAP): BROKER (inter-broker and the other
# containers) and EXTERNAL (the host) take SCRAM-SHA-512; CONTROLLER takes PLAIN with the brokers' static user.
scram_client="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$BROKER_USER\" password=\"$BROKER_PASSWORD\";"
plain="org.apache.kafka.common.security.plain.PlainLoginModule required username=\"$BROKER_USER\" password=\"$BROKER_PASSWORD\" user_$BROKER_USER=\"$BROKER_PASSWORD\";"
{
  printf 'listener.name.broker.scram-sha-512.sasl.jaas.config=%s\n' "$scram_client"
  printf 'listener.name.external.scram-sha-512.sasl.jaas.config=%s\n' "org.apache.kafka.common.security.scram.ScramLoginModule required;"
  printf 'listener.name.controller.plain.sasl.jaas.config=%s\n' "$plain"
} >>"$PROPS"
chmod 600 "$PROPS"

if [ ! -f "$KAFKA_LOG_DIRS/meta.properties" ]; then
  echo "kafka-start: formatting $KAFKA_LOG_DIRS with the SCRAM users $BROKER_USER and $ADMIN_USER"
  # The storage tool prints nothing secret; its arguments hold the two passwords only while it runs.
  "$TOOLS/kafka-storage.sh" format --cluster-id "$CLUSTER_ID" -c "$PROPS" --ignore-formatted \
    --add-scram "$MECHANISM=[name=$BROKER_USER,password=$BROKER_PASSWORD]" \
    --add-scram "$MECHANISM=[name=$ADMIN_USER,password=$ADMIN_PASSWORD]"
fi
unset ADMIN_PASSWORD BROKER_PASSWORD scram_client plain

exec "$TOOLS/kafka-server-start.sh" "$PROPS"
