"""Meters as the plant has them: interval meters, and cumulative registers of finite width.

A cumulative meter shows a register that only goes up, in a fixed number of digits, and wraps to
zero after the last one (an 8-digit kWh register shows 99,999,999 then 0). The platform turns
consecutive register readings into consumption; the gateway simulator must therefore produce
registers, with rollover, resets and replacement exactly as a real meter would.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Register:
    """The register of one cumulative meter, in thousandths of its unit."""

    digits: int
    value_milli: int = 0

    @property
    def modulus_milli(self) -> int:
        return 10**self.digits * 1000

    def advance(self, consumption_milli: int) -> int:
        """Add a consumption; returns what the display shows (wrapped to the register width)."""
        self.value_milli = (self.value_milli + consumption_milli) % self.modulus_milli
        return self.value_milli

    def reset(self) -> int:
        """A meter reset (power loss of an old meter, a technician's mistake): the register shows zero."""
        self.value_milli = 0
        return 0


def register_digits(mean_per_interval: float) -> int:
    """Register width for a meter: wide enough not to wrap within a couple of months, as installed
    meters are sized, but narrow enough that a long run sees a rollover."""
    per_month = mean_per_interval * 96 * 30
    digits = 5
    while 10**digits < per_month * 3:
        digits += 1
    return digits


def consumption_between(previous_milli: int, current_milli: int, modulus_milli: int) -> int:
    """Consumption between two register readings of the same meter, assuming at most one rollover.

    This is how the platform is expected to read a register; the simulator's ledger uses it to
    know what the platform should count."""
    return (current_milli - previous_milli) % modulus_milli
