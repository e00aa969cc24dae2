"""A bundled, deterministic, offline demo: a synthetic Wirral in the real file formats of the registers."""

from .generate import DEFAULT_SEED, demo_source_overrides, generate_demo

__all__ = ["DEFAULT_SEED", "demo_source_overrides", "generate_demo"]
