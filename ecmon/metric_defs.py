"""Every metric the platform reports, declared once with its help text.

Read this file to know what ecmon tells Prometheus. Processes import the objects from here;
nothing else creates metrics.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# -- gateways -----------------------------------------------------------------------------------
GATEWAY_READINGS_SENT = Counter(
    "ecmon_gateway_readings_sent_total", "Readings acknowledged by Kafka (acks=all).", ["province"]
)
GATEWAY_BATCHES_SENT = Counter("ecmon_gateway_batches_sent_total", "Batches acknowledged by Kafka.", ["province"])
GATEWAY_SEND_ERRORS = Counter(
    "ecmon_gateway_send_errors_total", "Batches Kafka did not acknowledge (they are retried).", ["reason"]
)
GATEWAY_SEND_LATENCY = Histogram(
    "ecmon_gateway_send_latency_seconds",
    "From handing a batch to the producer until Kafka acknowledged it.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

GATEWAY_SPOOL_BATCHES = Gauge(
    "ecmon_gateway_spool_batches", "Batches in the gateway's disk spool, not yet acknowledged by Kafka."
)
GATEWAY_SPOOL_BYTES = Gauge("ecmon_gateway_spool_bytes", "Encoded bytes in the gateway's disk spool.")
GATEWAY_SPOOL_FULL = Gauge(
    "ecmon_gateway_spool_full", "1 while the spool is at its size limit and the gateway waits (back-pressure)."
)
GATEWAY_BACKPRESSURE_SECONDS = Counter(
    "ecmon_gateway_backpressure_seconds_total", "Time the gateway waited because its spool was full."
)
GATEWAY_BATCHES_RESENT = Counter(
    "ecmon_gateway_batches_resent_total", "Batches resent from the spool after a restart (same bytes as before)."
)
GATEWAY_FAULTS_INJECTED = Counter(
    "ecmon_gateway_faults_injected_total", "Faults the simulator injected on purpose (--faults), by kind.", ["kind"]
)
GATEWAY_REGISTRY_PUBLISHED = Counter(
    "ecmon_gateway_registry_records_published_total", "Enterprise registry records the simulator published."
)

# -- stream worker ------------------------------------------------------------------------------
WORKER_BATCHES = Counter(
    "ecmon_worker_batches_total", "Reading batches processed, by outcome.", ["outcome"]
)
WORKER_READINGS = Counter(
    "ecmon_worker_readings_total", "Readings accepted into the rollups.", ["province"]
)
DEAD_LETTERS = Counter(
    "ecmon_dead_letters_total", "Messages or readings rejected to the dead-letter topic.", ["reason"]
)
WORKER_AGGREGATES_EMITTED = Counter(
    "ecmon_worker_aggregates_emitted_total", "Aggregate rows emitted to the aggregates topic.", ["level"]
)
WORKER_BATCH_SECONDS = Histogram(
    "ecmon_worker_batch_seconds",
    "Processing time of one reading batch in the worker.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
REGISTRY_ENTERPRISES = Gauge("ecmon_registry_enterprises", "Enterprises in the registry the worker follows.")
TARGETS_KNOWN = Gauge("ecmon_targets", "Energy-consumption targets and quotas the worker follows.", ["scope"])
ANOMALIES = Counter(
    "ecmon_anomalies_total",
    "Anomaly events the detectors emitted (meter, enterprise and region level), by type, province and severity. "
    "A detection that is replayed after a restart is counted again here but keeps its anomaly_id downstream.",
    ["type", "province", "severity"],
)

# -- sinks --------------------------------------------------------------------------------------
SINK_ROWS_WRITTEN = Counter("ecmon_sink_rows_written_total", "Rows ClickHouse accepted.", ["table"])
SINK_BATCH_ROWS = Histogram(
    "ecmon_sink_batch_rows",
    "Rows per ClickHouse insert.",
    buckets=(1, 10, 100, 1000, 10_000, 50_000, 100_000, 500_000),
)
SINK_INSERT_SECONDS = Histogram(
    "ecmon_sink_insert_seconds",
    "Latency of one ClickHouse insert.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SINK_ERRORS = Counter("ecmon_sink_errors_total", "Failed inserts (retried with backoff).", ["table"])
SINK_LAG = Gauge("ecmon_sink_consumer_lag", "Messages behind the end of the topic.", ["topic"])

# -- monitoring outcomes (read by the alert rules in deploy/prometheus/rules/) ------------------
ENTERPRISE_LAST_READING = Gauge(
    "ecmon_enterprise_last_reading_timestamp_seconds",
    "Unix time (wall clock) at which the worker last accepted a reading batch of this enterprise. Set for "
    "every enterprise in the registry (to its registration time until it first reports), so that an "
    "enterprise that never reports is found as silent too. Alert: EnterpriseSilent.",
    ["province", "uscc"],
)
PROVINCE_COMPLETENESS = Gauge(
    "ecmon_province_completeness_ratio",
    "Received / expected reading intervals of a province for one closed month (0..1, period = 'YYYY-MM', "
    "CST). Set when the province submits the month (and at each revision), never for month-to-date figures; "
    "the national specification "
    "asks for at least 0.90. Alert: ProvinceCompletenessLow.",
    ["province", "period"],
)
REGION_EARLY_WARNING = Gauge(
    "ecmon_region_early_warning_level",
    "Regional energy-consumption early-warning level of a province, as raised by the region-level "
    "detector: 0 green (on track), 1 orange (situation tight), 2 red (target at risk). "
    "Alert: RegionalEarlyWarning.",
    ["province"],
)

# -- Kafka cluster, as seen by its clients (no JMX exporter needed) -------------------------------
KAFKA_BROKERS_UP = Gauge(
    "ecmon_kafka_brokers_up",
    "Brokers present in the Kafka cluster metadata, as last observed by this process; 0 when the "
    "metadata cannot be fetched at all. Alert: KafkaBrokerDown.",
)
KAFKA_BROKERS_EXPECTED = Gauge(
    "ecmon_kafka_brokers_expected",
    "Brokers the cluster is meant to have (ECMON_BROKERS on the local stack, the broker replicas on "
    "Kubernetes). KafkaBrokerDown fires while fewer are up.",
)

# -- every process ------------------------------------------------------------------------------
PROCESS_UP = Gauge("ecmon_process_info", "Set to 1 by every running ecmon process.", ["role"])
