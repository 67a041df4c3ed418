"""`ecmon bench`: the whole pipeline measured on a local stack of its own (see docs/performance.md)."""
