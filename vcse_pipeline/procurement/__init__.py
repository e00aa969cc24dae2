"""The procurement layer: find providers, match contract notices, export and report (docs/procurement.md)."""

from .find import FindQuery, find_providers
from .ocds import load_release
from .opportunities import ProviderMatch, match_notice

__all__ = ["FindQuery", "ProviderMatch", "find_providers", "load_release", "match_notice"]
