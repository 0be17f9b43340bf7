"""Build script for the zactor Python package.

The CPython extension (python/ glue compiled together with the csrc/
runtime sources) is the subject of the Python-binding work; until it lands
this file only describes the package so the layout is in place.
"""
from setuptools import setup

setup(
    package_dir={"": "python"},
    packages=[],
)
