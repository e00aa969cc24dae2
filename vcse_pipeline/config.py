"""One place for configuration: packaged defaults, an optional TOML file, then environment variables."""

from __future__ import annotations

import copy
import functools
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .sources import SOURCE_NAMES  # the package's __init__ imports nothing: no cycle, and config stays light

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
ENV_PREFIX = "VCSE__"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The SQL ships inside the package (package-data in pyproject.toml), so a wheel install finds it too.
SQL_DIR = resources.files(__package__) / "sql"


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


# ---------------------------------------------------------------------------------------------- value checks
# The schema is defaults.toml itself: every key has the type of its default. These are the exceptions.

# Keys that may also take another shape than their default's.
ALSO_ALLOWED = {
    ("register", "areas"): (str,),                   # one area: VCSE__REGISTER__AREAS=E08000015
    ("sources.companies_house", "url"): (list,),     # the multi-part product: a list of URLs
    ("alerts", "email_to"): (str,),                  # one address: VCSE__ALERTS__EMAIL_TO=data@example.org
}
# The items' type of list settings whose default is empty (so it cannot tell).
ITEM_TYPES = {("alerts", "email_to"): str}
# Numeric ranges (least, most; None = unbounded), the quality gates' thresholds among them.
RANGES = {
    ("register", "keep_versions"): (1, None),
    ("batching", "quiet_seconds"): (0, None),
    ("batching", "stale_refresh_hours"): (0, None),
    ("batching", "poke_interval_seconds"): (1, None),
    ("batching", "wait_timeout_minutes"): (1, None),
    ("download", "timeout_seconds"): (1, None),
    ("download", "retries"): (0, None),
    ("download", "backoff_seconds"): (0, None),
    ("download", "max_retry_after_seconds"): (0, None),
    ("linking", "link_threshold"): (0, 100),
    ("linking", "review_threshold"): (0, 100),
    ("linking", "max_records_sharing_contact"): (1, None),
    ("linking", "successor_before_days"): (0, None),
    ("linking", "successor_after_days"): (0, None),
    ("tagging", "threshold"): (0, 1),
    ("quality", "min_organisations"): (0, None),
    ("quality", "row_count_band"): (0, 1),
    ("quality", "min_postcode_mapped_share"): (0, 1),
    ("quality", "min_service_area_share"): (0, 1),
    **{(f"sources.{source}", "max_age_days"): (0, None) for source in SOURCE_NAMES},  # 0: never flagged stale
    ("alerts", "timeout_seconds"): (1, None),
    ("alerts", "retries"): (0, None),
    ("quality", "staged_rows_band"): (0, 1),
    ("quality", "source_organisations_band"): (0, 1),
    ("quality", "active_organisations_band"): (0, 1),
    ("quality", "active_charity_share_band"): (0, 1),
    ("quality", "band_min_rows"): (0, None),
    ("runs", "stale_lock_hours"): (0, None),
}
_EXPECTED = {bool: "true or false", int: "a whole number", float: "a number", str: "text (a quoted string)",
             list: "a list, e.g. [\"a\", \"b\"]", dict: "a table of settings"}


def _fits(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)  # 90 is a fine value for a float setting
    return isinstance(value, type(default))


def default_value(section: str, key: str) -> Any:
    """The packaged default of `[section] key` (section "sources.<name>" for a source); KeyError when unknown."""
    node = _defaults()
    for part in section.split("."):
        node = node[part]
    return node[key]


def value_problem(section: str, key: str, value: Any) -> str | None:
    """Why `value` cannot be `[section] key` (None when it can): its type, its items' type or its range.

    The one check of a setting's value, for the loaded configuration and for values set later (DAG params).
    """
    shown = f"[{section}] {key} = {value!r}"
    try:
        default = default_value(section, key)
    except KeyError:
        return f"unknown setting [{section}] {key}"
    if not _fits(value, default) and not any(isinstance(value, t) for t in ALSO_ALLOWED.get((section, key), ())):
        return f"{shown}: expected {_EXPECTED.get(type(default), type(default).__name__)}"
    # A list's items have the type of the default's items, or of the default itself (a list of URLs for a URL).
    item = default
    if isinstance(default, list):
        item = default[0] if default else (ITEM_TYPES[section, key]() if (section, key) in ITEM_TYPES else None)
    if isinstance(value, list) and item is not None:
        wrong = [v for v in value if not _fits(v, item)]
        if wrong:
            return f"{shown}: every item must be {_EXPECTED[type(item)]}, not {wrong[0]!r}"
    least, most = RANGES.get((section, key), (None, None))
    if isinstance(value, int | float) and not isinstance(value, bool) and (
            (least is not None and value < least) or (most is not None and value > most)):
        allowed = f"between {least} and {most}" if most is not None else f"at least {least}"
        return f"{shown} is out of range: it must be {allowed}"
    return None


def _check_values(tree: dict, known: dict, where: str, prefix: str = "") -> None:
    """Every key of `tree` must exist in `known` (the defaults) and have its type and range."""
    from .errors import PipelineError

    for name, node in tree.items():
        section = f"{prefix}{name}"
        if not isinstance(node, dict):
            raise PipelineError(f"{where}: {section} = {node!r} must be a section ([{section}]) of settings")
        defaults = known[name]
        if section == "sources":
            for source, settings in node.items():
                _check_values({source: settings}, defaults, where, "sources.")
            continue
        for key, value in node.items():
            if key not in defaults:
                raise PipelineError(f"{where}: unknown setting [{section}] {key}; [{section}] has: "
                                    f"{', '.join(sorted(defaults))}")
            problem = value_problem(section, key, value)
            if problem:
                raise PipelineError(f"{where}: {problem}")


def check_config(tree: dict, where: str) -> None:
    """A PipelineError naming `where`, the setting, its value and what it should be, for any setting that is
    unknown, of the wrong type or out of range. Checked on load, so a typo never reaches a half-hour build."""
    known = _defaults()
    _check_sections(tree, known, where)
    _check_values(tree, known, where)


@functools.cache
def _defaults() -> dict:
    """The packaged defaults, read once; read-only (Config.load copies before merging)."""
    with DEFAULTS_FILE.open("rb") as fh:
        return tomllib.load(fh)


def _env_name_keys(name: str) -> list[str]:
    return [k.lower() for k in name[len(ENV_PREFIX):].split("__") if k]


def _env_value(keys: list[str], raw: str, known: dict) -> Any:
    """A variable's value: a TOML literal when it parses, but text where the setting is text (a URL of digits),
    unless the setting also takes a list (the Companies House product's URLs)."""
    value = _parse_env_value(raw)
    node: Any = known
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return raw if isinstance(node, str) and not isinstance(value, str | list) else value


def _env_overrides(environ: dict[str, str], known: dict) -> dict:
    """The VCSE__ variables as a settings tree, each checked as it is read (one pass over the environment)."""
    from .errors import PipelineError

    overrides: dict = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = _env_name_keys(name)
        if len(keys) < 2 or (keys[0] == "sources" and len(keys) != 3) or (keys[0] != "sources" and len(keys) != 2):
            raise PipelineError(f"environment variable {name}: expected {ENV_PREFIX}<SECTION>__<KEY> "
                                f"(or {ENV_PREFIX}SOURCES__<SOURCE>__<KEY>), e.g. VCSE__QUALITY__ROW_COUNT_BAND")
        single: dict = {}
        node = single
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = _env_value(keys, raw, known)
        check_config(single, f"environment variable {name}")
        overrides = _merge(overrides, single)
    return overrides


@dataclass(frozen=True)
class Config:
    """Resolved settings. `raw` holds the merged TOML tree; properties name the common paths."""

    raw: dict = field(repr=False)

    @classmethod
    def load(cls, path: str | Path | None = None, environ: dict[str, str] | None = None,
             overrides: dict | None = None) -> Config:
        environ = dict(os.environ if environ is None else environ)
        known = _defaults()
        tree = copy.deepcopy(known)
        origin = "--config" if path else "VCSE_CONFIG" if environ.get("VCSE_CONFIG") else "./vcse.toml"
        path = path or environ.get("VCSE_CONFIG") or ("vcse.toml" if Path("vcse.toml").exists() else None)
        if path:
            from_file = _read_toml(Path(path), origin)
            check_config(from_file, f"config file {path} (from {origin})")
            tree = _merge(tree, from_file)
        tree = _merge(tree, _env_overrides(environ, known))
        if overrides:  # from code (the CLI's --data-dir/--area, tests): not a user's typing, not checked here
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
