"""ecmon: national industrial energy-conservation monitoring and analysis platform."""

from pathlib import Path

__version__ = "0.1.0"

#: The checkout the platform runs from; config templates, schemas and migrations live beside the code.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
