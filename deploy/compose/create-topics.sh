#!/bin/sh
# Creates every topic declared in ecmon/topics.py (the brokers run with auto-creation off), as the administrator.
# The kafka-setup service of docker-compose.yml does this with the project's own code (deploy/ecmon_ops/stack/kafka_setup.py,
# which also creates the users and ACLs); this script is the same step with Kafka's shell tools, for an operator
# inside a broker container, which has the administrator's password as a compose secret:
#
#   docker compose -f deploy/compose/docker-compose.yml exec kafka-1 sh /create-topics.sh
#
# tests/unit/ecmon_ops/test_deploy_files.py checks that the `create` lines below match ecmon/topics.py;
# when a topic is added there, add it here (and to deploy/k8s/topics.yaml).
set -eu
umask 077
BOOTSTRAP=${BOOTSTRAP:-kafka-1:9092,kafka-2:9092,kafka-3:9092}
REPLICATION=${REPLICATION:-3}
MIN_INSYNC=${MIN_INSYNC:-2}
ADMIN_USER=${ADMIN_USER:-ecmon-admin}
ADMIN_PASSWORD_FILE=${ADMIN_PASSWORD_FILE:-/run/secrets/kafka-admin-password}
KT=/opt/kafka/bin/kafka-topics.sh

[ -r "$ADMIN_PASSWORD_FILE" ] || { echo "cannot read $ADMIN_PASSWORD_FILE (the administrator's password)" >&2; exit 1; }
CONF_DIR=$(mktemp -d /tmp/create-topics.XXXXXX)
trap 'rm -rf "$CONF_DIR"' EXIT
ADMIN_CONFIG="$CONF_DIR/admin.properties"
{
  echo "security.protocol=SASL_PLAINTEXT"
  echo "sasl.mechanism=SCRAM-SHA-512"
  printf 'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";\n' \
    "$ADMIN_USER" "$(cat "$ADMIN_PASSWORD_FILE")"
} >"$ADMIN_CONFIG"

until $KT --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG" --list >/dev/null 2>&1; do
  echo "waiting for Kafka at $BOOTSTRAP"; sleep 2
done

# create NAME PARTITIONS CLEANUP_POLICY RETENTION_MS|- [KEY=VALUE ...]
create() {
  name=$1; partitions=$2; policy=$3; retention=$4; shift 4
  configs="--config cleanup.policy=$policy --config min.insync.replicas=$MIN_INSYNC"
  [ "$retention" = "-" ] || configs="$configs --config retention.ms=$retention"
  for kv in "$@"; do configs="$configs --config $kv"; done
  # shellcheck disable=SC2086
  $KT --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG" --create --if-not-exists --topic "$name" \
      --partitions "$partitions" --replication-factor "$REPLICATION" $configs
}

create ecmon.readings.v1 4 delete 2419200000 message.timestamp.type=LogAppendTime
create ecmon.registry.v1 4 compact - min.compaction.lag.ms=34560000000 delete.retention.ms=34560000000
create ecmon.targets.v1 4 compact -
create ecmon.enterprise-totals.v1 4 delete 2419200000
create ecmon.province-totals.v1 4 delete 2419200000
create ecmon.production.v1 4 delete 2419200000 message.timestamp.type=LogAppendTime
create ecmon.aggregates.v1 4 delete 2419200000
create ecmon.deadletters.v1 4 delete 7862400000
create ecmon.normalised-readings.v1 4 delete 2419200000
create ecmon.production-accepted.v1 4 delete 2419200000
create ecmon.anomalies.v1 4 delete 2419200000
create ecmon.monthly-reports.v1 4 delete 7862400000
create ecmon.national-feedback.v1 4 delete 7862400000
create ecmon-worker-enterprise-state-changelog 4 compact - max.message.bytes=16777216
create ecmon-worker-province-state-changelog 4 compact - max.message.bytes=16777216
create ecmon-worker-nation-state-changelog 4 compact - max.message.bytes=16777216
create ecmon-worker-production-state-changelog 4 compact - max.message.bytes=16777216
create ecmon-worker-meter-detectors-changelog 4 compact - max.message.bytes=16777216
create ecmon-worker-__assignor-__leader 1 compact -

echo "topics ready"
