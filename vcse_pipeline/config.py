"""One place for configuration: packaged defaults, an optional TOML file, then environment variables."""

from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
ENV_PREFIX = "VCSE__"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"


def _read_toml(path: Path, origin: str) -> dict:
    """A config file as a dict, or a PipelineError that names the file, where it came from and the bad line."""
    from .errors import PipelineError  # errors imports nothing from here; kept local to keep config import-light

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise PipelineError(f"config file {path} (from {origin}) not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PipelineError(f"config file {path} (from {origin}) is not valid TOML: {exc}") from None
    except OSError as exc:
        raise PipelineError(f"cannot read config file {path} (from {origin}): {exc}") from None


def _merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _parse_env_value(raw: str) -> Any:
    # Read values as TOML literals so lists and numbers work; anything else is a plain string.
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _check_sections(tree: dict, known: dict, where: str) -> None:
    """A misspelt section would otherwise be merged in and never read: name it and the sections that exist."""
    from .errors import PipelineError

    for name in tree:
        if name not in known:
            raise PipelineError(f"{where}: unknown config section [{name}]; known sections: {', '.join(sorted(known))}")
    sources = tree.get("sources")
    if isinstance(sources, dict):
        for name in sources:
            if name not in known["sources"]:
                raise PipelineError(f"{where}: unknown source [sources.{name}]; known sources: "
                                    f"{', '.join(sorted(known['sources']))}")


def _check_env_sections(environ: dict[str, str], known: dict) -> None:
    for name in environ:
        if name.startswith(ENV_PREFIX):
            keys = [k.lower() for k in name[len(ENV_PREFIX):].split("__") if k]
            if len(keys) < 2:
                from .errors import PipelineError

                raise PipelineError(f"environment variable {name}: expected {ENV_PREFIX}<SECTION>__<KEY>, "
                                    f"e.g. VCSE__QUALITY__ROW_COUNT_BAND")
            tree: dict = {keys[0]: {keys[1]: {}} if len(keys) > 2 else {}}
            _check_sections(tree, known, f"environment variable {name}")


def _env_overrides(environ: dict[str, str]) -> dict:
    overrides: dict = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX):].split("__") if k]
        node = overrides
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = _parse_env_value(raw)
    return overrides


@dataclass(frozen=True)
class Config:
    """Resolved settings. `raw` holds the merged TOML tree; properties name the common paths."""

    raw: dict = field(repr=False)

    @classmethod
    def load(cls, path: str | Path | None = None, environ: dict[str, str] | None = None,
             overrides: dict | None = None) -> Config:
        environ = dict(os.environ if environ is None else environ)
        with DEFAULTS_FILE.open("rb") as fh:
            tree = tomllib.load(fh)
        origin = "--config" if path else "VCSE_CONFIG" if environ.get("VCSE_CONFIG") else "./vcse.toml"
        path = path or environ.get("VCSE_CONFIG") or ("vcse.toml" if Path("vcse.toml").exists() else None)
        known = copy.deepcopy(tree)
        if path:
            from_file = _read_toml(Path(path), origin)
            _check_sections(from_file, known, f"config file {path} (from {origin})")
            tree = _merge(tree, from_file)
        _check_env_sections(environ, known)
        tree = _merge(tree, _env_overrides(environ))
        if overrides:
            tree = _merge(tree, overrides)
        return cls(tree)

    def with_overrides(self, overrides: dict) -> Config:
        return Config(_merge(self.raw, overrides))

    def section(self, name: str) -> dict:
        return self.raw.get(name, {})

    def source(self, name: str) -> dict:
        return self.raw["sources"][name]

    @property
    def data_dir(self) -> Path:
        return Path(self.raw["paths"]["data_dir"]).expanduser().resolve()

    def _under_data(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.data_dir / path

    @property
    def register_path(self) -> Path:
        return self._under_data(self.raw["paths"]["register_file"])

    @property
    def versions_dir(self) -> Path:
        return self.register_path.parent / "versions"

    def download_dir(self, source: str) -> Path:
        return self.data_dir / "downloads" / source

    def staging_path(self, source: str) -> Path:
        return self.data_dir / "staging" / f"{source}.duckdb"

    @property
    def areas(self) -> list[str]:
        areas = self.raw["register"]["areas"]
        return [areas] if isinstance(areas, str) else list(areas)
