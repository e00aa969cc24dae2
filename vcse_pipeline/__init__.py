"""VCSE register pipeline: open registers in, a local provider register out."""

__version__ = "0.1.0"
