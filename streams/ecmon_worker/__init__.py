"""The Faust stream worker: admission, normalisation, rollups, detectors, month close (docs/streams.md)."""
