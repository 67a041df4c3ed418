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

# -- every process ------------------------------------------------------------------------------
PROCESS_UP = Gauge("ecmon_process_info", "Set to 1 by every running ecmon process.", ["role"])
