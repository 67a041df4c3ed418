"""The command line `ecmon` and the demo: the top layer, the only one that may import every other."""
