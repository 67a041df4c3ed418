"""What a gateway vendor reads: a durable disk spool and delivery to Kafka with acknowledgements."""
