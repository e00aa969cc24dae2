"""open_register (find, report, opportunities): a file that is not a usable register is a clear error naming it."""

import re
import subprocess
import sys
from contextlib import contextmanager

import duckdb
import pytest
from typer.testing import CliRunner

from vcse_pipeline.cli import app
from vcse_pipeline.errors import PipelineError
from vcse_pipeline.procurement.connection import open_register

runner = CliRunner()




def test_a_published_register_opens_read_only(register):
    con = open_register(register)
    try:
        assert con.execute("SELECT count(*) FROM provider_directory").fetchone()[0] > 0
        with pytest.raises(duckdb.Error):
            con.execute("CREATE TABLE scribble (a INT)")
    finally:
        con.close()


@pytest.mark.parametrize("make,expected", [
    (lambda p: p.mkdir(), "is a folder, not a register file"),
    (lambda p: p.write_bytes(b""), "is an empty file"),
    (lambda p: p.write_text("<!doctype html><html><body>VCSE register: Wirral</body></html>\n" * 50),
     "not a DuckDB database file"),
    # DuckDB itself would open a .csv as a database of its own; the register check must still say what it is
    (lambda p: p.write_text("name,postcode\nWirral Mind,CH41 4AA\n", encoding="utf-8"), "not a DuckDB database file"),
])
def test_files_that_are_not_registers(tmp_path, make, expected):
    path = tmp_path / ("report.html" if "html" in expected else "providers.csv")
    make(path)
    with pytest.raises(PipelineError, match=expected) as err:
        open_register(path)
    assert str(path) in str(err.value) and "--register" in str(err.value)


def test_a_duckdb_file_without_the_views(tmp_path):
    path = tmp_path / "staging.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE company (company_number VARCHAR)")
    con.close()
    with pytest.raises(PipelineError, match="has no provider_directory view"):
        open_register(path)


@contextmanager
def held_open_for_writing(register, tmp_path):
    """A copy of the register that another process holds open for writing (DuckDB's lock) until the block ends."""
    held = tmp_path / "held.duckdb"
    held.write_bytes(register.read_bytes())
    writer = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('open', flush=True); "
                               "sys.stdin.read()", str(held)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"
        yield held
    finally:
        writer.stdin.close()
        writer.wait(timeout=30)


def test_a_register_held_open_for_writing(register, tmp_path):
    with held_open_for_writing(register, tmp_path) as held:
        with pytest.raises(PipelineError, match="is open for writing by another program.*try again") as err:
            open_register(held)
        assert str(held) in str(err.value)
        # each command that reads the register says so too, without a traceback
        for command in (["find"], ["report", "-o", str(tmp_path / "r.html")]):
            result = runner.invoke(app, [*command, "--register", str(held)])
            assert result.exit_code != 0 and isinstance(result.exception, PipelineError), result.output
    open_register(held).close()          # usable again once the writer has gone


def test_commands_report_a_bad_register_as_a_pipeline_error(tmp_path):
    html = tmp_path / "wirral-vcse-report.html"
    html.write_text("<html></html>" * 100, encoding="utf-8")
    for command in (["find", "-s", "carers"], ["report", "-o", str(tmp_path / "out.html")]):
        result = runner.invoke(app, [*command, "--register", str(html)])
        # a PipelineError is what the vcse entry point prints as one "error: ..." line
        assert result.exit_code != 0 and isinstance(result.exception, PipelineError), result.output
        assert "not a register" in str(result.exception) and "wirral-vcse-report.html" in str(result.exception)


# -- vcse match opens the register the same way (open_register_file: the checks without the views) --------------

def match_against(tmp_path, register_path):
    listing = tmp_path / "suppliers.csv"
    listing.write_text("name,postcode\nWirral Mind,CH41 4AA\n", encoding="utf-8")
    return runner.invoke(app, ["match", str(listing), "--register", str(register_path)])


@pytest.mark.parametrize("make,expected", [
    (lambda p: p.mkdir(), "is a folder, not a register file"),
    (lambda p: p.write_bytes(b""), "is an empty file"),
    (lambda p: p.write_text("name,postcode\nWirral Mind,CH41 4AA\n", encoding="utf-8"), "not a DuckDB database file"),
    (lambda p: None, "no register at .*: build one with `vcse run`"),
])
def test_match_reports_a_bad_register_as_find_does(tmp_path, make, expected):
    path = tmp_path / "providers.csv"
    make(path)
    result = match_against(tmp_path, path)
    assert isinstance(result.exception, PipelineError), result.output
    with pytest.raises(PipelineError) as from_find:
        open_register(path)
    assert str(result.exception) == str(from_find.value)       # word for word what find says
    assert str(path) in str(result.exception) and re.search(expected, str(result.exception))


def test_match_on_a_register_held_open_for_writing(register, tmp_path):
    with held_open_for_writing(register, tmp_path) as held:
        result = match_against(tmp_path, held)
        assert isinstance(result.exception, PipelineError), result.output
        assert "is open for writing by another program" in str(result.exception)
    assert match_against(tmp_path, held).exit_code == 0       # usable again once the writer has gone


def test_find_csv_without_output_goes_to_standard_output(register, tmp_path):
    result = runner.invoke(app, ["find", "-f", "csv", "--register", str(register)])
    assert result.exit_code == 0, result.output
    # the same rows and columns as the -o file (every match), without its BOM and CRLF
    saved = runner.invoke(app, ["find", "-o", str(tmp_path / "all.csv"), "--register", str(register)])
    assert saved.exit_code == 0, saved.output
    file_text = (tmp_path / "all.csv").read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    assert result.stdout == file_text
    assert result.stdout.startswith("name,") and result.stdout.count("\n") > 10
    assert "needs --output" in str(runner.invoke(app, ["find", "-f", "xlsx", "--register", str(register)]).exception)


def test_an_unreadable_register_file_is_named(tmp_path, monkeypatch):
    # chmod cannot stop root reading, so the refusal the operating system gives another user is simulated
    from pathlib import Path

    path = tmp_path / "register.duckdb"
    duckdb.connect(str(path)).close()
    real_open = Path.open

    def refuse(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(PipelineError, match=rf"cannot read register {re.escape(str(path))}: Permission denied"):
        open_register(path)


def test_advice_names_only_options_the_command_has(tmp_path):
    # `vcse changes` has --data-dir and --config but no --register: its advice must not suggest --register
    missing, empty = tmp_path / "nowhere.duckdb", tmp_path / "empty.duckdb"
    empty.write_bytes(b"")
    with pytest.raises(PipelineError, match=r"or pass --register$"):
        open_register(missing)
    for path in (missing, empty):
        with pytest.raises(PipelineError) as raised:
            open_register(path, has_register_option=False)
        assert "--register" not in str(raised.value) and "--data-dir" in str(raised.value)
