"""The units an official reads figures in, for every unit a meter reports in (ecmon.energy.UNITS).

Quantities are stored as integer thousandths of the metered unit (``physical_milli``); a report shows
electricity in MWh, masses in t, gases in 万m³ (10^4 m3, the unit of Chinese energy statistics) and heat in
GJ, with ``MILLI_PER_DISPLAY`` thousandths making one display unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

#: unit code -> (display unit, thousandths of the unit per display unit)
DISPLAY_UNITS: Mapping[str, tuple[str, int]] = MappingProxyType({
    "Wh": ("MWh", 1000 * 1_000_000), "kWh": ("MWh", 1000 * 1000), "MWh": ("MWh", 1000), "GWh": ("MWh", 1),
    "kg": ("t", 1000 * 1000), "t": ("t", 1000), "m3": ("万m³", 1000 * 10_000),
    "kJ": ("GJ", 1000 * 1_000_000), "MJ": ("GJ", 1000 * 1000), "GJ": ("GJ", 1000),
})
"""10k_kWh (万千瓦时) and 10k_m3 (万立方米) are shown as metered: they are already the statistical units."""

#: Chinese names of units (metered and display).
UNIT_NAMES_ZH: Mapping[str, str] = MappingProxyType({
    "Wh": "瓦时", "kWh": "千瓦时", "10k_kWh": "万千瓦时", "MWh": "兆瓦时", "GWh": "吉瓦时", "kJ": "千焦",
    "MJ": "兆焦", "GJ": "吉焦", "kg": "千克", "t": "吨", "m3": "立方米", "10k_m3": "万立方米", "万m³": "万立方米",
    "tce": "吨标准煤", "kgce": "千克标准煤",
})


def display_unit(unit: str) -> tuple[str, int]:
    """(display unit, thousandths per display unit); a unit without a display unit shows as metered."""
    return DISPLAY_UNITS.get(unit, (unit, 1000))
