"""`vcse tag` on a small CSV with its own column names."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from vcse_pipeline.cli import app


def test_vcse_tag_writes_codes_and_areas(tmp_path, monkeypatch):
    monkeypatch.setenv("VCSE__PATHS__DATA_DIR", str(tmp_path / "data"))
    src = tmp_path / "orgs.csv"
    pd.DataFrame({
        "Organisation": ["Wirral Food Bank", "Birkenhead Youth Theatre", "Zzq Ltd"],
        "What they do": ["Emergency food parcels", "Drama workshops for young people", ""],
    }).to_csv(src, index=False)
    out = tmp_path / "tagged.csv"
    result = CliRunner().invoke(app, ["tag", str(src), "-o", str(out), "--name-column", "Organisation",
                                      "--activities-column", "What they do", "--rules-only"])
    assert result.exit_code == 0, result.output
    assert "Tagged 2 of 3 rows" in result.output and "food_poverty" in result.output
    tagged = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(tagged.columns) == ["Organisation", "What they do", "ukcat_codes", "service_areas"]
    assert {"SW301", "SW300", "SW"} <= set(tagged.loc[0, "ukcat_codes"].split(";"))
    assert "arts_culture" in tagged.loc[1, "service_areas"].split(";")
    assert "children_young_people" in tagged.loc[1, "service_areas"].split(";")
    assert tagged.loc[2, "ukcat_codes"] == ""


def test_vcse_tag_missing_column(tmp_path):
    src = tmp_path / "orgs.csv"
    src.write_text("title,notes\nWirral Food Bank,food\n")
    result = CliRunner().invoke(app, ["tag", str(src), "-o", str(tmp_path / "o.csv"), "--rules-only"])
    assert result.exit_code != 0
    assert "no column 'name'" in str(result.exception)
