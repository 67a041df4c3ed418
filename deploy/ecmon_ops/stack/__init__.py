"""The local stack: Kafka (KRaft), ClickHouse, Prometheus and Alertmanager as plain processes."""
