"""One place for configuration: packaged defaults, an optional TOML file, then environment variables."""

from __future__ import annotations

import copy
import functools
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict, TomlConfigSettingsSource

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


# ---------------------------------------------------------------------------------------------- typed settings
# A model per section: each setting's type and range. Their defaults are defaults.toml's (the documented ones),
# so no value is written twice; extra="forbid" makes defaults.toml and the models name the same keys.
# strict: a value must have its setting's type (a whole number is fine where a number is expected), never be
# coerced from text, so `keep_versions = "3"` is an error rather than a guess.

class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


AtLeast0 = Annotated[int, Field(ge=0)]
AtLeast1 = Annotated[int, Field(ge=1)]
Hours = Annotated[float, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]   # a share or band, 0-1
Score = Annotated[float, Field(ge=0, le=100)]  # a rapidfuzz score
MaxAgeDays = Annotated[int, Field(ge=0)]       # 0: never flagged stale


class PathsSettings(_Section):
    data_dir: str
    register_file: str


class RegisterSettings(_Section):
    areas: list[str] | str  # one area may be given as text: VCSE__REGISTER__AREAS=E08000015
    keep_versions: AtLeast1
    build_memory_limit: str  # a DuckDB size, e.g. "640MB"
    worker_memory_limit: str  # a DuckDB size, for each build worker process (parallel_build)
    build_workers: Literal["auto"] | AtLeast1  # "auto": the usable CPUs (parallel_build.worker_count)
    build_tasks: AtLeast1  # most mapped build_area tasks of an Airflow register run (airflow_tasks.area_task_groups)


class BatchingSettings(_Section):
    quiet_seconds: AtLeast0
    stale_refresh_hours: Hours
    poke_interval_seconds: AtLeast1
    wait_timeout_minutes: AtLeast1


class DownloadSettings(_Section):
    timeout_seconds: AtLeast1
    retries: AtLeast0
    backoff_seconds: Annotated[float, Field(ge=0)]
    max_retry_after_seconds: AtLeast0
    progress: bool
    stage_workers: Literal["auto"] | AtLeast1  # "auto": the usable CPUs (pipeline.stage_worker_count)


class _Source(_Section):
    url: str
    schedule: str
    max_age_days: MaxAgeDays


class CharityCommissionSettings(_Source):
    tables: list[str]


class CompaniesHouseSettings(_Source):
    url: str | list[str]  # the multi-part product: a list of URLs
    listing_url: str
    files: str
    categories: list[str]


class PostcodesSettings(_Source):
    search_url: str
    search_title: str
    owner: str
    item_url: str


class SourcesSettings(_Section):
    charity_commission: CharityCommissionSettings
    companies_house: CompaniesHouseSettings
    postcodes: PostcodesSettings
    fca_mutuals: _Source
    ukcat: _Source


class LinkingSettings(_Section):
    link_threshold: Score
    review_threshold: Score
    placeholder_company_numbers: list[str]
    generic_contact_domains: list[str]
    max_records_sharing_contact: AtLeast1
    successor_before_days: AtLeast0
    successor_after_days: AtLeast0


class VcseSettings(_Section):
    include_charities: bool
    include_linked_charities: bool
    include_cios: bool
    include_community_interest_companies: bool
    include_companies_limited_by_guarantee: bool
    include_registered_societies: bool
    include_royal_charter_companies: bool
    society_types: list[str]
    count_national_area_of_operation: bool


class QualitySettings(_Section):
    row_count_band: Share
    min_postcode_mapped_share: Share
    min_service_area_share: Share
    min_organisations: AtLeast0
    staged_rows_band: Share
    source_organisations_band: Share
    active_organisations_band: Share
    active_charity_share_band: Share
    band_min_rows: AtLeast0


class RunsSettings(_Section):
    stale_lock_hours: Hours


class TaggingSettings(_Section):
    use_model: bool
    service_areas: str
    threshold: Share


class AlertsSettings(_Section):
    email_to: list[str] | str  # one address may be given as text
    email_from: str
    smtp_conn_id: str
    webhook_url_env: str
    timeout_seconds: AtLeast1
    retries: AtLeast0


class WebSettings(_Section):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)]
    tile_url: str
    tile_attribution: str
    max_upload_kb: AtLeast1
    page_size: Annotated[int, Field(ge=1, le=500)]
    duckdb_threads: AtLeast1
    duckdb_memory_limit: str
    reconcile_max_organisations: AtLeast1


class FeedSettings(_Section):
    find_a_tender_url: str
    contracts_finder_url: str
    services: list[Literal["find_a_tender", "contracts_finder"]]
    stages: list[str]
    lookback_days: Annotated[float, Field(gt=0)]
    window_hours: Annotated[float, Field(gt=0)]
    page_size: Annotated[int, Field(ge=1, le=100)]   # both services allow 100 at most
    request_interval_seconds: Annotated[float, Field(ge=0)]
    retries: AtLeast0
    backoff_seconds: Annotated[float, Field(ge=0)]
    max_retry_after_seconds: Annotated[float, Field(ge=0)]
    buyers: list[str]
    regions: list[str]
    cpv_prefixes: list[str]
    keep_vcse_suitable: bool
    shortlist_size: AtLeast1
    digest_providers: AtLeast0
    digest_to: list[str] | str  # one address may be given as text
    schedule: str


GssCode = Annotated[str, Field(pattern=r"^[EWSN]\d{8}$")]   # a local authority or region, e.g. E08000015
SupplierKind = Literal["vcse", "business", "public body", "individual", "redacted", "unknown"]


class SpendSettings(_Section):
    """Local spend (docs/spend.md)."""
    files: list[str] | str  # one folder or URL may be given as text
    database: str
    layouts_file: str
    overrides_file: str
    tier2_file: str
    district: list[GssCode]
    district_label: str
    wider_area: list[GssCode]
    wider_area_label: str
    region: list[GssCode]
    region_label: str
    target_share: Share
    excluded_kinds: list[SupplierKind]
    top_suppliers: AtLeast1
    schedule: str


class Settings(BaseSettings):
    """Every setting, typed. Built from defaults.toml (pydantic-settings' TOML source, the lowest layer) under the
    checked file and environment tree passed in; read through Config, which keeps it as a plain tree."""

    model_config = SettingsConfigDict(extra="forbid", strict=True)

    paths: PathsSettings
    register_: RegisterSettings = Field(alias="register")  # "register" would shadow BaseModel.register (ABC)
    batching: BatchingSettings
    download: DownloadSettings
    sources: SourcesSettings
    linking: LinkingSettings
    vcse: VcseSettings
    quality: QualitySettings
    runs: RunsSettings
    tagging: TaggingSettings
    alerts: AlertsSettings
    web: WebSettings
    feed: FeedSettings
    spend: SpendSettings

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        # The VCSE__ variables are read by Config.load, one by one, so an error names its variable.
        return init_settings, TomlConfigSettingsSource(settings_cls, toml_file=DEFAULTS_FILE)


def settings_fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """A model's fields by the name settings files use (a field's alias where it has one)."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def section_model(section: str) -> type[BaseModel]:
    """The model of `section` ("sources.<name>" for a source); KeyError when there is none."""
    model: type[BaseModel] = Settings
    for part in section.split("."):
        model = settings_fields(model)[part].annotation
    return model


_EXPECTED = {"bool_type": "true or false", "int_type": "a whole number", "float_type": "a number",
             "string_type": "text (a quoted string)", "list_type": "a list, e.g. [\"a\", \"b\"]"}


@functools.cache
def _adapter(section: str, key: str) -> TypeAdapter:
    info = section_model(section).model_fields[key]
    annotation = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    return TypeAdapter(annotation, config=ConfigDict(strict=True))


def _bounds(section: str, key: str) -> tuple[Any, Any]:
    metadata = section_model(section).model_fields[key].metadata
    least = next((m.ge for m in metadata if hasattr(m, "ge")), None)
    most = next((m.le for m in metadata if hasattr(m, "le")), None)
    return least, most


def _packaged(section: str) -> dict:
    node = _defaults()
    for part in section.split("."):
        node = node[part]
    return node


def default_value(section: str, key: str) -> Any:
    """The packaged default of `[section] key` (section "sources.<name>" for a source); KeyError when unknown."""
    return copy.deepcopy(_packaged(section)[key])


def default_section(section: str) -> dict:
    """A copy of the packaged defaults of one section (e.g. "download")."""
    return copy.deepcopy(_packaged(section))


def value_problem(section: str, key: str, value: Any) -> str | None:
    """Why `value` cannot be `[section] key` (None when it can): its type, its items' type or its range.

    The one check of a setting's value, for the loaded configuration and for values set later (DAG params).
    """
    shown = f"[{section}] {key} = {value!r}"
    try:
        adapter = _adapter(section, key)
    except (KeyError, AttributeError):
        return f"unknown setting [{section}] {key}"
    try:
        adapter.validate_python(value)
        return None
    except ValidationError as exc:
        errors = exc.errors()
    # A word or a number ("auto" or a count): name both, and the number's range when it is a number out of range.
    words = [e["ctx"]["expected"] for e in errors if e["type"] == "literal_error"]
    others = [e for e in errors if e["type"] != "literal_error"]
    if words and others:
        bound = others[0].get("ctx", {})
        if "ge" in bound or "le" in bound:  # the number's bounds are inside its arm of the union: read the error's
            allowed = f"at least {bound['ge']}" if "ge" in bound else f"at most {bound['le']}"
            return f"{shown} is out of range: it must be {allowed}, or {words[0]}"
        return f"{shown}: expected {words[0]} or {_EXPECTED.get(others[0]['type'], others[0]['msg'])}"
    # A setting of two shapes (text or a list) is judged by the shape given: a list's bad item, else the first.
    shaped = [e for e in errors if e["loc"] and e["loc"][0] == ("list[str]" if isinstance(value, list) else "str")]
    error = (shaped or errors)[0]
    loc = [part for part in error["loc"] if isinstance(part, int)]
    if error["type"] in ("greater_than_equal", "less_than_equal"):
        least, most = _bounds(section, key)
        allowed = f"between {least} and {most}" if most is not None else f"at least {least}"
        return f"{shown} is out of range: it must be {allowed}"
    expected = _EXPECTED.get(error["type"], error["msg"])
    if loc:
        return f"{shown}: every item must be {expected}, not {value[loc[0]]!r}"
    return f"{shown}: expected {expected}"


def _check_sections(tree: dict, where: str) -> None:
    """A misspelt section would otherwise be merged in and never read: name it and the sections that exist."""
    from .errors import PipelineError

    known = settings_fields(Settings)
    for name in tree:
        if name not in known:
            raise PipelineError(f"{where}: unknown config section [{name}]; known sections: {', '.join(sorted(known))}")
    sources = tree.get("sources")
    if isinstance(sources, dict):
        for name in sources:
            if name not in SourcesSettings.model_fields:
                raise PipelineError(f"{where}: unknown source [sources.{name}]; known sources: "
                                    f"{', '.join(sorted(SourcesSettings.model_fields))}")


def _check_values(tree: dict, where: str, prefix: str = "") -> None:
    """Every key of `tree` must be a field of its section's model and have its type and range."""
    from .errors import PipelineError

    for name, node in tree.items():
        section = f"{prefix}{name}"
        if not isinstance(node, dict):
            raise PipelineError(f"{where}: {section} = {node!r} must be a section ([{section}]) of settings")
        if section == "sources":
            for source, settings in node.items():
                _check_values({source: settings}, where, "sources.")
            continue
        keys = section_model(section).model_fields
        for key, value in node.items():
            if key not in keys:
                raise PipelineError(f"{where}: unknown setting [{section}] {key}; [{section}] has: "
                                    f"{', '.join(sorted(keys))}")
            problem = value_problem(section, key, value)
            if problem:
                raise PipelineError(f"{where}: {problem}")


def check_config(tree: dict, where: str) -> None:
    """A PipelineError naming `where`, the setting, its value and what it should be, for any setting that is
    unknown, of the wrong type or out of range. Checked on load, so a typo never reaches a half-hour build."""
    _check_sections(tree, where)
    _check_values(tree, where)


@functools.cache
def _defaults() -> dict:
    """The packaged defaults, read once; read-only (Config.load copies before merging)."""
    with DEFAULTS_FILE.open("rb") as fh:
        return tomllib.load(fh)


def _env_name_keys(name: str) -> list[str]:
    return [k.lower() for k in name[len(ENV_PREFIX):].split("__") if k]


def _env_value(keys: list[str], raw: str) -> Any:
    """A variable's value: a TOML literal when it parses, but text where the setting is text (a URL of digits),
    unless the setting also takes a list (the Companies House product's URLs). A value that opens a list ("[") but
    does not parse as one is a ValueError where the setting may be a list: taken as text, '["E08000015",' read as
    the area E08000015 and dropped the rest of the list without a word."""
    try:
        text_only = section_model(".".join(keys[:-1])).model_fields[keys[-1]].annotation is str
    except (KeyError, AttributeError):  # an unknown setting: the check names it
        text_only = False
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError as exc:
        if raw.lstrip().startswith("[") and not text_only:
            raise ValueError(f"{raw!r} opens a list but is not one ({exc}); write a list as TOML, e.g. "
                             '["E08000015", "E08000012"]: each item quoted, commas between, closed by ]') from None
        value = raw
    return raw if text_only and not isinstance(value, str | list) else value


def _env_overrides(environ: dict[str, str]) -> dict:
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
        try:
            node[keys[-1]] = _env_value(keys, raw)
        except ValueError as exc:
            raise PipelineError(f"environment variable {name}: {exc}") from None
        check_config(single, f"environment variable {name}")
        overrides = _merge(overrides, single)
    return overrides


@dataclass(frozen=True)
class Config:
    """Resolved settings. `raw` holds the merged tree (a validated `Settings` dumped, then code overrides);
    properties name the common paths."""

    raw: dict = field(repr=False)

    @classmethod
    def load(cls, path: str | Path | None = None, environ: dict[str, str] | None = None,
             overrides: dict | None = None) -> Config:
        environ = dict(os.environ if environ is None else environ)
        tree: dict = {}
        origin = "--config" if path else "VCSE_CONFIG" if environ.get("VCSE_CONFIG") else "./vcse.toml"
        path = path or environ.get("VCSE_CONFIG") or ("vcse.toml" if Path("vcse.toml").exists() else None)
        if path:
            tree = _read_toml(Path(path), origin)
            check_config(tree, f"config file {path} (from {origin})")
        tree = _merge(tree, _env_overrides(environ))
        # Each layer is checked above, naming its file or variable; the model lays them over defaults.toml.
        tree = Settings(**tree).model_dump(by_alias=True)
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
