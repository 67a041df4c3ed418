"""Enterprise gateways: sources of readings, batching and delivery to Kafka."""
