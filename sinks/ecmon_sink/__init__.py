"""The ClickHouse sink: migrations, typed rows and the batch writer that commits offsets after inserts."""
