"""The simulated fleet: enterprises, meters, load profiles, faults, production, replays and the ledger of what
was sent."""
