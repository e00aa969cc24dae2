"""vcse report: a self-contained HTML file with charts, ward table, readiness and changes; rendered in Chromium."""

import shutil
import subprocess

import duckdb
import pytest
from procurement_fixtures import ORGS, build_register, copy_register
from typer.testing import CliRunner

from vcse_pipeline.cli import app

runner = CliRunner()
CHROMIUM = shutil.which("chromium") or (shutil.which("/usr/bin/chromium"))


@pytest.fixture(scope="module")
def report_html(register_master, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    register = copy_register(register_master, folder / "register.duckdb")
    out = folder / "report.html"
    result = runner.invoke(app, ["report", "--register", str(register), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_report_is_self_contained_with_charts_and_tables(report_html):
    html = report_html.read_text(encoding="utf-8")
    for chart in ("chart-legal-form", "chart-service-area", "chart-ward", "chart-readiness"):
        start = html.index(f'id="{chart}"')
        assert "<svg" in html[start:start + 400], chart
    # nothing fetched from elsewhere: no scripts, stylesheets or images by address
    assert "<script" not in html and "<link" not in html and "src=" not in html and 'href="http' not in html
    assert "Birkenhead and Tranmere" in html and "Domestic abuse and violence" in html
    assert "Wirral Women and Children&#39;s Aid" in html          # a not-ready provider, escaped
    assert "Charity Commission: insolvent" in html


def test_ward_table_lists_every_ward_of_the_area_and_one_outside_row(report_html):
    import duckdb as _duckdb

    from vcse_pipeline.procurement.report import report_context

    con = _duckdb.connect(str(report_html.parent / "register.duckdb"), read_only=True)
    wards = {w[0]: w[1] for w in report_context(con, "E08000015")["wards"]}
    con.close()
    assert wards["Upton"] == 0 and wards["Pensby and Thingwall"] == 0        # no provider based there
    assert wards["(based outside the area)"] == 2                             # the two Liverpool charities
    assert len(wards) == 12 and sum(wards.values()) == len(ORGS)                # every active provider once
    html = report_html.read_text(encoding="utf-8")
    assert "Pensby and Thingwall" in html[html.index('id="chart-ward"'):]


def test_demo_report_wards_are_wirral_wards(demo_register, tmp_path):
    import duckdb as _duckdb

    from vcse_pipeline.procurement.report import UNPLACED, report_context

    con = _duckdb.connect(str(demo_register.path), read_only=True)
    area_wards = {r[0] for r in con.execute("SELECT ward_name FROM area_ward").fetchall()}
    wards = [w[0] for w in report_context(con, "E08000015")["wards"]]
    con.close()
    ward_rows = [w for w in wards if w not in UNPLACED]
    assert set(ward_rows) == area_wards and len(area_wards) == 22   # Wirral's 22 wards, none from elsewhere
    # then the providers no ward holds, each reason once, in UNPLACED's order; the demo has all but the first
    assert wards[len(ward_rows):] == list(UNPLACED[1:])


def test_demo_report_says_why_a_provider_has_no_ward(demo_register):
    import duckdb as _duckdb

    from vcse_pipeline.procurement.report import report_context

    con = _duckdb.connect(str(demo_register.path), read_only=True)
    wards = {w[0]: w[1] for w in report_context(con, "E08000015")["wards"]}
    not_found, missing = con.execute("""
        SELECT count(*) FILTER (WHERE o.postcode_status IN ('not in postcode directory', 'malformed')),
               count(*) FILTER (WHERE o.postcode_status = 'missing')
        FROM provider_directory d JOIN organisation o USING (area_code, org_id)
        WHERE NOT d.based_in_area""").fetchone()
    total = con.execute("SELECT count(*) FROM provider_directory").fetchone()[0]
    con.close()
    assert not_found and missing
    assert wards["(postcode not found: address needs checking)"] == not_found
    assert wards["(no postcode on record)"] == missing
    assert sum(wards.values()) == total


def test_changes_since_previous_refresh_are_listed(report_html):
    html = report_html.read_text(encoding="utf-8")
    section = html[html.index("What changed since the previous refresh"):]
    assert "20260201T000000Z-bbbbbb" in section and "20260101T000000Z-aaaaaa" in section
    assert "2 new" in section and "1 closed" in section and "2 changed" in section
    assert "Egremont Youth Club" in section and "310000.0" in section


def test_first_refresh_says_there_is_nothing_to_compare(tmp_path):
    register = build_register(tmp_path / "register.duckdb", previous_refresh=False)
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", "--register", str(register), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "This is the first published refresh" in out.read_text(encoding="utf-8")
    con = duckdb.connect(str(register))
    con.execute("DROP TABLE register_change")
    con.close()
    result = runner.invoke(app, ["report", "--register", str(register), "-o", str(out)])
    assert result.exit_code == 0 and "no refresh history yet" in out.read_text(encoding="utf-8")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(report_html, tmp_path):
    import matplotlib.image as mpimg
    import numpy as np

    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,2000",
                    report_html.as_uri()], check=True, timeout=120, capture_output=True)
    image = mpimg.imread(shot)[:, :, :3]
    assert image.shape[:2] == (2000, 1200)
    # the first chart row sits below the heading and cards; its bars are the report's dark blue (#1f4e79)
    charts = image[250:480]
    bar_blue = np.all(np.abs(charts - np.array([0x1F, 0x4E, 0x79]) / 255) < 0.06, axis=2)
    assert bar_blue.sum() > 2000
    non_white = np.any(charts < 0.95, axis=2).mean()
    assert non_white > 0.03
    colours = {tuple(p) for p in (charts.reshape(-1, 3) * 255).astype(int)[::7]}
    assert len(colours) > 20


# ------------------------------------------------------------------ organisations to check first

def test_check_first_orders_by_severity_then_income_and_keeps_a_short_list():
    from vcse_pipeline.procurement.report import check_first

    # provider_readiness rows: (name, level, reasons, latest_income, readiness_rank), reasons as the view words them
    flagged = [
        ("10th Raby Mere Scout Group", "caution", ["income falling"], 4_000.0, 2),
        ("Abbey Advice", "caution", ["income falling"], 90_000.0, 2),
        ("Brimstage Advice Centre", "caution", ["Charity Commission: submission overdue",
                                               "latest annual return filed late"], 209_348.0, 2),
        ("Greasby Autism Support", "caution", ["Charity Commission: submission overdue",
                                              "latest annual return filed late",
                                              "Companies House confirmation statement overdue"], 41_107.0, 2),
        ("New Shed", "caution", ["operating for less than 2 years"], None, 2),
        ("West Kirby Hospice", "not ready", ["Charity Commission: insolvent"], 982_032.0, 4),
        ("9th Thingwall Brownies", "not ready", ["Charity Commission: in administration"], 4_791.0, 4),
    ]
    names = [row[0] for row in check_first(flagged)]
    assert names == ["West Kirby Hospice", "9th Thingwall Brownies",        # not ready first, larger income first
                     "Greasby Autism Support", "Brimstage Advice Centre",   # overdue filings before falling income
                     "Abbey Advice", "10th Raby Mere Scout Group", "New Shed"]
    assert check_first(flagged)[0] == ("West Kirby Hospice", "not ready", "Charity Commission: insolvent", 982_032.0)
    assert [r[0] for r in check_first(flagged, limit=3)] == names[:3]


def test_demo_report_lists_25_to_check_first_and_points_to_the_full_export(demo_register, tmp_path):
    out = tmp_path / "new" / "folder" / "report.html"                      # folders are created
    result = runner.invoke(app, ["report", "--register", str(demo_register.path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    section = html[html.index('id="check-first"'):html.index("What changed since the previous refresh")]
    con = duckdb.connect(str(demo_register.path), read_only=True)
    levels = dict(con.execute("SELECT readiness_level, count(*) FROM provider_readiness GROUP BY 1").fetchall())
    con.close()
    flagged = levels.get("not ready", 0) + levels.get("caution", 0)
    assert flagged > 25 and section.count("<tr>") == 1 + 25                 # header and 25 organisations
    words = " ".join(section.split())
    assert f"the 25 most serious of {flagged:,} flagged ({levels['not ready']} not ready" in words
    assert "vcse find --readiness \"not ready\" --readiness caution -o check-first.xlsx" in words
    rows = section.split("<tr>")[2:]
    not_ready = [i for i, row in enumerate(rows) if "<td>not ready</td>" in row]
    assert not_ready == list(range(levels["not ready"]))                     # every not-ready organisation on top
    assert "income falling</td>" not in rows[levels["not ready"]]            # a filing flag outranks falling income


def test_a_refresh_that_changed_nothing_reads_cleanly(fresh_register, tmp_path):
    register = fresh_register
    con = duckdb.connect(str(register))
    con.execute("DELETE FROM register_change WHERE run_id = '20260201T000000Z-bbbbbb'")
    con.close()
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", "--register", str(register), "-o", str(out)])
    assert result.exit_code == 0, result.output
    section = out.read_text(encoding="utf-8").split("What changed since the previous refresh")[1]
    assert "compared with 20260101T000000Z-aaaaaa.\n\nThe latest refresh changed nothing" in section
    assert ". ." not in " ".join(section.split())


def test_report_output_that_is_a_folder_is_a_clear_error(fresh_register, tmp_path):
    from vcse_pipeline.errors import PipelineError

    register = fresh_register
    result = runner.invoke(app, ["report", "--register", str(register), "-o", str(tmp_path)])
    assert isinstance(result.exception, PipelineError) and "is a folder" in str(result.exception)


@pytest.mark.parametrize(("name", "message"), [
    ("x.txt", "unknown extension .txt; name the file .html or .htm (e.g. x.html)"),
    ("report", "no file extension; name the file .html or .htm (e.g. report.html)"),
    ("x.csv", "unknown extension .csv"),
])
def test_report_output_must_be_named_html(fresh_register, tmp_path, name, message):
    from vcse_pipeline.errors import PipelineError

    register = fresh_register
    result = runner.invoke(app, ["report", "--register", str(register), "-o", str(tmp_path / name)])
    assert isinstance(result.exception, PipelineError) and message in str(result.exception)
    assert not (tmp_path / name).exists()
    upper = tmp_path / "sub" / "Wirral.HTM"
    assert runner.invoke(app, ["report", "--register", str(register), "-o", str(upper)]).exit_code == 0
    assert upper.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
