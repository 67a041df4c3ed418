"""ClickHouse: migrations, batch writers, analyst queries and reports."""
