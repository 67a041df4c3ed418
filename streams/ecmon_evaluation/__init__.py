"""Evaluation of the detectors: NAB scoring and the simulated fleet with injected faults."""
