"""The meter detector compiled: ``meter_anomalies`` and ``meter_score`` built by Cython from the reference modules'
own source (``setup.py``), so the two cannot drift apart; ``ecmon_worker.meter_detector`` chooses which one runs."""
