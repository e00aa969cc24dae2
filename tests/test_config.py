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
    assert "known sections: download, linking, paths, quality, register, sources, tagging, vcse" in message
    with pytest.raises(PipelineError, match=r"VCSE__SOURCES__POSTCODE__URL: unknown source \[sources\.postcode\]; "
                                            r"known sources: .*postcodes"):
        Config.load(environ={"VCSE__SOURCES__POSTCODE__URL": "https://example.org/onspd.zip"})


def test_a_misspelt_section_in_a_config_file_is_an_error_naming_file_and_section(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('[qualty]\nrow_count_band = 0.5\n')
    with pytest.raises(PipelineError, match=r"site\.toml \(from --config\): unknown config section \[qualty\]; "
                                            r"known sections: download, .*quality"):
        Config.load(site, environ={})


def test_every_section_the_code_reads_is_accepted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    site = tmp_path / "site.toml"
    site.write_text("".join(f"[{name}]\n" for name in
                            ("paths", "register", "download", "linking", "vcse", "quality", "tagging"))
                    + '[sources.ukcat]\nurl = "ukcat.csv"\n')
    cfg = Config.load(site, environ={"VCSE__DOWNLOAD__RETRIES": "2", "VCSE__SOURCES__UKCAT__SCHEDULE": "@weekly"})
    assert cfg.section("download")["retries"] == 2
    assert cfg.source("ukcat")["schedule"] == "@weekly" and cfg.source("ukcat")["url"] == "ukcat.csv"
