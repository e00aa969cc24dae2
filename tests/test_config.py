from pathlib import Path

import pytest

from vcse_pipeline.config import Config
from vcse_pipeline.errors import PipelineError


def test_defaults_name_wirral_and_a_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.load(environ={})
    assert cfg.areas == ["E08000015"]
    assert cfg.data_dir == tmp_path / "data"
    assert cfg.register_path == tmp_path / "data" / "register" / "vcse_register.duckdb"
    assert cfg.staging_path("postcodes") == tmp_path / "data" / "staging" / "postcodes.duckdb"
    assert "{table}" in cfg.source("charity_commission")["url"]


def test_file_then_environment_override_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "site.toml").write_text('[register]\nareas = ["E08000012"]\n[linking]\nlink_threshold = 95\n')
    env = {
        "VCSE_CONFIG": str(tmp_path / "site.toml"),
        "VCSE__PATHS__DATA_DIR": "/srv/vcse",
        "VCSE__LINKING__LINK_THRESHOLD": "97",
        "VCSE__SOURCES__COMPANIES_HOUSE__URL": "https://example.org/ch.zip",
    }
    cfg = Config.load(environ=env)
    assert cfg.areas == ["E08000012"]              # from the file
    assert cfg.section("linking")["link_threshold"] == 97  # environment beats the file, parsed as a number
    assert cfg.data_dir == Path("/srv/vcse")
    assert cfg.source("companies_house")["url"] == "https://example.org/ch.zip"  # plain string kept
    assert cfg.source("companies_house")["categories"]  # untouched siblings survive the merge


def test_environment_lists_parse_as_toml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.load(environ={"VCSE__REGISTER__AREAS": '["E08000015", "E08000012"]'})
    assert cfg.areas == ["E08000015", "E08000012"]


@pytest.mark.parametrize("value", ['["E08000015",', '["E08000015", "E08000012"', "[E08000015, E08000012]"])
def test_an_environment_list_that_does_not_parse_is_an_error_naming_the_variable(tmp_path, monkeypatch, value):
    """'["E08000015",' (a list cut short by a shell quote) was taken as text and then read as the area E08000015."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PipelineError) as info:
        Config.load(environ={"VCSE__REGISTER__AREAS": value})
    assert str(info.value).startswith(f"environment variable VCSE__REGISTER__AREAS: {value!r} opens a list but is "
                                      "not one (")
    assert 'write a list as TOML, e.g. ["E08000015", "E08000012"]' in str(info.value)


def test_text_settings_may_start_with_a_bracket(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.load(environ={"VCSE__PATHS__DATA_DIR": "[archive]/vcse"})
    assert cfg.data_dir.name == "vcse" and cfg.data_dir.parent.name == "[archive]"


def test_missing_config_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(PipelineError, match=r"nope\.toml \(from --config\) not found"):
        Config.load(tmp_path / "nope.toml", environ={})
    with pytest.raises(PipelineError, match=r"gone\.toml \(from VCSE_CONFIG\) not found"):
        Config.load(environ={"VCSE_CONFIG": str(tmp_path / "gone.toml")})


def test_invalid_toml_names_the_file_and_line(tmp_path):
    bad = tmp_path / "vcse.toml"
    bad.write_text('[register]\nareas = "E08000015\n')
    with pytest.raises(PipelineError, match=r"vcse\.toml \(from --config\) is not valid TOML: .*line 2"):
        Config.load(bad, environ={})


def test_cli_reports_a_missing_config_without_a_traceback(tmp_path, monkeypatch, capsys):
    from vcse_pipeline.cli import main

    monkeypatch.setattr("sys.argv", ["vcse", "status", "--config", str(tmp_path / "nope.toml")])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "nope.toml (from --config) not found" in " ".join(err.split())
    assert "Traceback" not in err


def test_a_misspelt_section_in_the_environment_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PipelineError) as info:
        Config.load(environ={"VCSE__REGISTR__AREAS": '["E08000012"]'})
    message = str(info.value)
    assert message.startswith("environment variable VCSE__REGISTR__AREAS: unknown config section [registr]")
    # every section of defaults.toml, in name order (alerts, batching, download, ... vcse)
    assert f"known sections: {', '.join(sorted(Config.load(environ={}).raw))}" in message
    assert "quality, register, runs, sources" in message
    with pytest.raises(PipelineError, match=r"VCSE__SOURCES__POSTCODE__URL: unknown source \[sources\.postcode\]; "
                                            r"known sources: .*postcodes"):
        Config.load(environ={"VCSE__SOURCES__POSTCODE__URL": "https://example.org/onspd.zip"})


def test_a_misspelt_section_in_a_config_file_is_an_error_naming_file_and_section(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('[qualty]\nrow_count_band = 0.5\n')
    with pytest.raises(PipelineError, match=r"site\.toml \(from --config\): unknown config section \[qualty\]; "
                                            r"known sections: (\w+, )*download, .*quality"):
        Config.load(site, environ={})


def test_every_section_the_code_reads_is_accepted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    site = tmp_path / "site.toml"
    site.write_text("".join(f"[{name}]\n" for name in
                            ("paths", "register", "download", "linking", "vcse", "quality", "tagging", "alerts"))
                    + '[sources.ukcat]\nurl = "ukcat.csv"\n')
    cfg = Config.load(site, environ={"VCSE__DOWNLOAD__RETRIES": "2", "VCSE__SOURCES__UKCAT__SCHEDULE": "@weekly"})
    assert cfg.section("download")["retries"] == 2
    assert cfg.source("ukcat")["schedule"] == "@weekly" and cfg.source("ukcat")["url"] == "ukcat.csv"


@pytest.mark.parametrize(("name", "value", "message"), [
    ("VCSE__REGISTER__KEEP_VERSIONS", "abc", "[register] keep_versions = 'abc': expected a whole number"),
    ("VCSE__REGISTER__KEEP_VERSIONS", "0", "[register] keep_versions = 0 is out of range: it must be at least 1"),
    ("VCSE__LINKING__LINK_THRESHOLD", "abc", "[linking] link_threshold = 'abc': expected a number"),
    ("VCSE__TAGGING__USE_MODEL", "maybe", "[tagging] use_model = 'maybe': expected true or false"),
    ("VCSE__QUALITY__ROW_COUNT_BAND", "1.5",
     "[quality] row_count_band = 1.5 is out of range: it must be between 0 and 1"),
    ("VCSE__QUALITY__MIN_ORGANISATIONS", "-1",
     "[quality] min_organisations = -1 is out of range: it must be at least 0"),
    ("VCSE__SOURCES__COMPANIES_HOUSE__CATEGORIES", '"Community Interest Company"',
     "[sources.companies_house] categories = 'Community Interest Company': expected a list, e.g. [\"a\", \"b\"]"),
    ("VCSE__REGISTER__AREAS", '["E08000015", 15]',
     "[register] areas = ['E08000015', 15]: every item must be text (a quoted string), not 15"),
    ("VCSE__ALERTS__EMAIL_TO", '["data@example.org", 7]',
     "[alerts] email_to = ['data@example.org', 7]: every item must be text (a quoted string), not 7"),
    ("VCSE__ALERTS__RETRIES", "-1", "[alerts] retries = -1 is out of range: it must be at least 0"),
    ("VCSE__ALERTS__TIMEOUT_SECONDS", "0", "[alerts] timeout_seconds = 0 is out of range: it must be at least 1"),
    ("VCSE__ALERTS__WEBHOOK_URL", "https://hooks.example.org/T0/B0/secret",
     "unknown setting [alerts] webhook_url; [alerts] has: email_from, email_to, retries, smtp_conn_id, "
     "timeout_seconds, webhook_url_env"),
])
def test_a_bad_value_in_the_environment_names_variable_key_value_and_expected_type(tmp_path, monkeypatch, name,
                                                                                   value, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PipelineError) as info:
        Config.load(environ={name: value})
    assert str(info.value) == f"environment variable {name}: {message}"


def test_a_bad_value_or_misspelt_key_in_a_config_file_names_the_file(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('[linking]\nlink_threshold = "high"\n')
    with pytest.raises(PipelineError, match=r"^config file .*site\.toml \(from --config\): \[linking\] "
                                            r"link_threshold = 'high': expected a number$"):
        Config.load(site, environ={})
    site.write_text("[quality]\nrow_count_bnad = 0.3\n")
    with pytest.raises(PipelineError, match=r"^config file .*site\.toml \(from --config\): unknown setting \[quality\] "
                                            r"row_count_bnad; \[quality\] has: .*min_organisations, .*row_count_band,"):
        Config.load(site, environ={})
    site.write_text('[sources.ukcat]\nurls = "ukcat.csv"\n')
    with pytest.raises(PipelineError, match=r"unknown setting \[sources\.ukcat\] urls; \[sources\.ukcat\] has: "
                                            r"max_age_days, schedule, url$"):
        Config.load(site, environ={})


def test_a_misspelt_key_in_the_environment_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PipelineError, match=r"^environment variable VCSE__QUALITY__BOGUS_KEY: unknown setting "
                                            r"\[quality\] bogus_key"):
        Config.load(environ={"VCSE__QUALITY__BOGUS_KEY": "1"})
    with pytest.raises(PipelineError, match=r"expected VCSE__<SECTION>__<KEY>"):
        Config.load(environ={"VCSE__QUALITY__ROW_COUNT_BAND__MAX": "1"})


def test_values_of_another_accepted_shape_load(tmp_path, monkeypatch):
    """A whole number for a number, one area as text, the multi-part Companies House product as a list, and text
    settings given digits stay text."""
    monkeypatch.chdir(tmp_path)
    site = tmp_path / "site.toml"
    site.write_text('[linking]\nlink_threshold = 92\n[sources.companies_house]\nurl = ["a.zip", "b.zip"]\n')
    cfg = Config.load(site, environ={"VCSE__REGISTER__AREAS": "E08000012", "VCSE__SOURCES__UKCAT__URL": "12345",
                                     "VCSE__TAGGING__THRESHOLD": "0.5"})
    assert cfg.section("linking")["link_threshold"] == 92 and cfg.areas == ["E08000012"]
    assert cfg.source("companies_house")["url"] == ["a.zip", "b.zip"]
    assert cfg.source("ukcat")["url"] == "12345" and cfg.section("tagging")["threshold"] == 0.5
    # The list of URLs from the environment too: a list, not one string downloaded as one URL.
    parts = '["https://a.example/x.zip", "https://a.example/y.zip"]'
    cfg = Config.load(environ={"VCSE__SOURCES__COMPANIES_HOUSE__URL": parts})
    assert cfg.source("companies_house")["url"] == ["https://a.example/x.zip", "https://a.example/y.zip"]
    with pytest.raises(PipelineError, match=r"\[sources\.companies_house\] url = \[1, 2\]: every item must be text"):
        Config.load(environ={"VCSE__SOURCES__COMPANIES_HOUSE__URL": "[1, 2]"})


def documented_variables() -> list[tuple[str, str]]:
    """Every VCSE__NAME=value the project's docs, .env.example and Makefile tell people to set."""
    import re

    root = Path(__file__).resolve().parent.parent
    files = [*sorted((root / "docs").glob("*.md")), root / "README.md", root / ".env.example", root / "Makefile"]
    found = []
    for path in files:
        if path.exists():
            for name, value in re.findall(r"(VCSE__[A-Z_]+)=('[^']*'|\"[^\"]*\"|[^\s`\\]+)",
                                          path.read_text(encoding="utf-8")):
                found.append((name, value.strip("'") if value.startswith("'") else value))
    return found


# The docs' own examples of mistakes (a misspelt section, a value of the wrong type): (name prefix, value or None)
DOCUMENTED_MISTAKES = (("VCSE__REGISTR__", None), ("VCSE__SOURCES__POSTCODE__", None),
                       ("VCSE__REGISTER__KEEP_VERSIONS", "abc"), ("VCSE__REGISTER__BUILD_WORKERS", "many"),
                       ("VCSE__REGISTER__AREAS", '["E08000015",'))


def test_every_documented_environment_variable_loads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    variables = documented_variables()
    assert len(variables) >= 10  # the docs, .env.example and the Makefile's demo settings
    for name, value in variables:
        if any(name.startswith(prefix) and wrong in (None, value) for prefix, wrong in DOCUMENTED_MISTAKES):
            with pytest.raises(PipelineError, match=name):   # what the docs say happens
                Config.load(environ={name: value})
        else:
            Config.load(environ={name: value})


def test_the_models_and_defaults_toml_name_the_same_settings():
    """defaults.toml documents every setting the models type, and nothing else (a key in one only fails here)."""
    import tomllib

    from vcse_pipeline import config
    from vcse_pipeline.sources import SOURCE_NAMES

    packaged = tomllib.loads(config.DEFAULTS_FILE.read_text(encoding="utf-8"))
    assert set(config.settings_fields(config.Settings)) == set(packaged)
    assert set(config.settings_fields(config.SourcesSettings)) == set(SOURCE_NAMES) == set(packaged["sources"])
    for section, keys in packaged.items():
        for name, model_keys in ([(f"sources.{s}", packaged["sources"][s]) for s in SOURCE_NAMES]
                                 if section == "sources" else [(section, keys)]):
            assert set(config.section_model(name).model_fields) == set(model_keys), name
            for key, value in model_keys.items():
                assert config.value_problem(name, key, value) is None, (name, key, value)  # each default fits


def test_download_settings_come_from_the_config_not_a_file_read(tmp_path, monkeypatch):
    from vcse_pipeline import download

    monkeypatch.chdir(tmp_path)
    cfg = Config.load(environ={"VCSE__DOWNLOAD__RETRIES": "9"})
    assert download.download_settings(cfg.section("download"))["retries"] == 9
    assert download.download_settings({"backoff_seconds": 0.5}) == {**Config.load(environ={}).section("download"),
                                                                   "backoff_seconds": 0.5}


def test_matching_thresholds_come_from_the_config_given(tmp_path, monkeypatch):
    from vcse_pipeline.matching import default_thresholds

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VCSE__LINKING__LINK_THRESHOLD", "99")  # never read by matching itself
    cfg = Config.load(environ={"VCSE__LINKING__REVIEW_THRESHOLD": "60"})
    assert default_thresholds(cfg) == (90.0, 60.0)
    assert default_thresholds() == (90.0, 75.0)  # no Config: the packaged defaults
