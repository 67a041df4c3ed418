"""The compiled meter detector (docs/anomalies.md, "Compiled") and normalised-readings writer: Cython compiles the
reference modules' own source, unchanged, into ``ecmon_worker.compiled``; everything else about the package is in
pyproject.toml.

Plain C doubles, no fused multiply-add: the compiled arithmetic rounds as CPython's does, so its findings and
states equal the reference's bit for bit (tests/unit/ecmon_worker/test_compiled_detector.py).

``ECMON_COMPILE_DETECTOR=0`` leaves it out of an install: ``make venv`` installs so and then compiles it once
itself, in place, as it does again whenever the reference's source changes."""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DETECTOR_MODULES = ("meter_anomalies", "meter_score")
#: with the C types of its .pxd (streams/ecmon_worker/normalised_encoding.py)
TYPED_MODULES = ("normalised_encoding",)

extensions = [Extension(f"ecmon_worker.compiled.{name}", [f"streams/ecmon_worker/{name}.py"],
                        extra_compile_args=["-ffp-contract=off"])
              for name in DETECTOR_MODULES + TYPED_MODULES]
compile_detector = os.environ.get("ECMON_COMPILE_DETECTOR", "1") != "0"
# include_path: the .pxd of a compiled module sits in the package it is compiled into (ecmon_worker/compiled/)
setup(ext_modules=cythonize(extensions, build_dir="build", language_level=3, quiet=True, include_path=["streams"])
      if compile_detector else [])
