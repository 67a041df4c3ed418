"""Modules compiled by Cython from their reference's own source (``setup.py``), so the two cannot drift apart:
the meter detector, ``meter_anomalies`` and ``meter_score`` (``ecmon_worker.meter_detector`` chooses which one
runs), and ``normalised_encoding`` (with the C types of its ``.pxd`` here)."""
