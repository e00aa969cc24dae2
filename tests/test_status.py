"""What a published register says about itself (status.published_run / organisation_totals / register_summary,
the queries behind `vcse status`)."""

from __future__ import annotations

from test_changes import SEACOMBE, publish_orgs, read
from test_publish import BASE_ORGS, WIRRAL

from vcse_pipeline.config import Config
from vcse_pipeline.status import organisation_totals, published_run, register_summary


def test_status_reads_the_published_run_and_the_counts(tmp_path):
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")}})
    version = publish_orgs(cfg, "run1", BASE_ORGS + [dict(SEACOMBE, is_active=False, status="Removed")])
    with read(cfg) as con:
        run = published_run(con)
        totals = organisation_totals(con)
        summary = register_summary(con)
    assert run["run_id"] == "run1" and run["version_file"] == version.name
    assert run["finished_at"].startswith("20") and isinstance(run["sources"], dict)
    assert totals == [(WIRRAL, 6, 7)]  # active against all: the removed club counts in all only
    forms = {form: (active, every) for _area, form, active, every in summary["by_legal_form"]}
    assert forms["Charitable incorporated organisation"] == (2, 2) and forms["Charitable trust"] == (0, 1)
    assert sum(every for *_rest, every in summary["by_area_basis"]) == 7
    assert summary["records_by_source"] == []  # make_register writes no source records
