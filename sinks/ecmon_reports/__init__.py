"""Analysts' reports from ClickHouse: queries, reconciliation, HTML."""
