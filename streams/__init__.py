"""The Faust stream worker: validation, normalisation, rollups (see docs/streams.md)."""
