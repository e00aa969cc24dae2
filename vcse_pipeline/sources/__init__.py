"""One module per open register, each with the same shape (see docs/architecture.md):

    NAME: str                                        the source name used in config and file names
    download(cfg) -> list[FetchResult]               fetch into cfg.download_dir(NAME)
    verify(paths) -> None                            raise SourceError on a bad file
    stage(con, paths, cfg) -> dict[str, int]          create typed staging tables; rows per table
"""

from __future__ import annotations

import importlib
from types import ModuleType

# The one list of sources: the DAG files (a DAG per source, the register's staging assets), the staging attached to
# a build (db.attach_staging), settings and the CLI all read it. Importing this module imports no source module.
SOURCE_NAMES = ("charity_commission", "companies_house", "postcodes", "fca_mutuals", "ukcat")


def get_source(name: str) -> ModuleType:
    if name not in SOURCE_NAMES:
        raise KeyError(f"unknown source {name!r}; known sources: {', '.join(SOURCE_NAMES)}")
    return importlib.import_module(f"{__name__}.{name}")
