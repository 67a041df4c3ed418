"""The registry authority's tooling: enterprises' signing keys (rotate, revoke) and published targets and quotas."""
