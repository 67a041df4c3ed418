"""The fault suite (`ecmon chaos`, `make chaos`): processes killed and servers stopped while fleets flow,
and after each trial an exact reconciliation of ClickHouse against what the gateways sent."""
