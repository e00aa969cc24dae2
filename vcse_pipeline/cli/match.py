"""`vcse match`: reconcile an external list of organisations (CSV or Excel) against the register by name and
postcode."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from ..errors import PipelineError
from ..matching import (
    DEFAULT_MARGIN,
    MATCHED,
    NO_MATCH,
    REVIEW,
    MatchIndex,
    default_thresholds,
    match_frame,
    parse_active,
    register_index,
)
from ..procurement.export import TableFormat, check_table_output, csv_value, emit_table, frame_table
from ..tabular_io import read_table, require_columns
from . import err_console, note
from .options import ConfigOpt, DataDirOpt, RegisterOpt, TableFormatOpt, load_config

console = Console()
ADDED_COLUMNS = ["org_id", "register_name", "matched_name", "score", "status", "other_candidate", "review_reason",
                 "is_active", "date_removed"]


def read_list(path: Path, what: str, text_columns: list[str] | None = None) -> pd.DataFrame:
    """A CSV (UTF-8 or Windows-1252) or .xlsx list, empty cells as None; errors name the file. Every column is
    text, except that with `text_columns` a workbook's other columns keep their numbers and dates, so the output
    file holds them as they were written. A blank row between filled ones is kept (a 'no match' row of the output,
    which has one row per input row, in order); blank rows below the list are not."""
    return read_table(path, what, note=note, text_columns=text_columns, keep_blank_rows=True).replace({"": None})


def active_column(frame: pd.DataFrame, path: Path) -> list[bool | None]:
    """The list's optional `active` column as True/False/None (blank = unknown), or a PipelineError naming
    the file, line and column."""
    if "active" not in frame.columns:
        return [None] * len(frame)
    status = []
    for line, value in enumerate(frame["active"], start=2):  # row 1 is the header
        try:
            status.append(parse_active(value))
        except ValueError as exc:
            raise PipelineError(f"list file {path} row {line} column 'active': {exc}") from exc
    return status


def index_from_list(path: Path) -> MatchIndex:
    """A list with columns org_id, name and optional postcode, other_names (`|`-separated) and active
    (true/false/1/0/yes/no; settles identical-name ties, see docs/matching.md)."""
    frame = read_list(path, "list")
    require_columns(frame, ["org_id", "name"], "list", path)
    frame["is_active"] = active_column(frame, path)
    return MatchIndex.from_records(frame)


def index_from_register(path: Path) -> MatchIndex:
    """Every organisation of the published register, with all its names, opened read-only. A missing, empty or
    locked file, a folder or a CSV is the same clear error as for `vcse find` (procurement.connection)."""
    import duckdb

    from ..procurement.connection import open_register_file

    con = open_register_file(path)   # tables alone: match needs no provider_directory view
    try:
        return register_index(con)
    except duckdb.Error as exc:
        raise PipelineError(f"register {path} lacks the organisation / organisation_name tables: {exc}") from exc
    finally:
        con.close()


def removal_dates(path: Path, org_ids: Iterable[str]) -> dict[str, date]:
    """The date each of `org_ids` was removed from its register or dissolved (organisation.date_removed, the latest
    of its rows), for those the register records as removed; none from a register built before the column."""
    from ..procurement.connection import open_register_file

    wanted = sorted(set(org_ids))
    if not wanted:
        return {}
    con = open_register_file(path)
    try:
        if "date_removed" not in {row[0] for row in con.execute("DESCRIBE organisation").fetchall()}:
            return {}
        return dict(con.execute("""
            SELECT org_id, max(date_removed) FROM organisation
            WHERE org_id IN (SELECT unnest(?)) AND date_removed IS NOT NULL AND NOT is_active GROUP BY org_id""",
                                [wanted]).fetchall())
    finally:
        con.close()


def _cell(value) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def score_text(score) -> str:
    """A score as the output file holds it (export.csv_value): 100 not 100.0, 87.5 as 87.5."""
    return _cell(csv_value(score))


def summary_title(counts: dict[str, int], total: int) -> str:
    """ "Matched 3 of 5 names" (the 'matched' status, not every row)."""
    return f"Matched {counts.get(MATCHED, 0):,} of {total:,} {'name' if total == 1 else 'names'}"


def print_summary(result: pd.DataFrame, name_column: str, examples: int = 3, out: Console | None = None) -> None:
    """Counts by status and a few examples of each; `out` is standard error when the CSV goes to standard output."""
    out = out or console
    counts = {status: int(n) for status, n in result["status"].value_counts().items()}
    out.print(summary_title(counts, len(result)))   # a line of its own: as a title it would wrap at the table's width
    table = Table()
    table.add_column("status")
    table.add_column("rows", justify="right")
    for status in (MATCHED, REVIEW, NO_MATCH):
        table.add_row(status, f"{counts.get(status, 0):,}")
    out.print(table)
    shown = Table(title="Examples", title_justify="left")
    for header in (name_column, "register_name", "matched through", "org_id", "score", "status"):
        shown.add_column(header, justify="right" if header == "score" else "left")
    for status in (MATCHED, REVIEW, NO_MATCH):
        for row in result[result["status"] == status].head(examples).to_dict("records"):
            through = row["matched_name"] if row["matched_name"] != row["register_name"] else ""
            shown.add_row(_cell(row[name_column]), _cell(row["register_name"]), _cell(through), _cell(row["org_id"]),
                          score_text(row["score"]), status)
    out.print(shown)
    gone = int((result["status"].eq(MATCHED) & result["is_active"].eq(False)).sum())
    if gone:
        out.print(f"{gone:,} matched {'name is an organisation' if gone == 1 else 'names are organisations'} removed "
                  "from its register or dissolved: see the is_active and date_removed columns")


def thresholds(cfg, link_threshold: float | None, review_threshold: float | None) -> tuple[float, float]:
    """--link-threshold and --review-threshold, else the configured ones: each 0-100, review at most link."""
    default_link, default_review = default_thresholds(cfg)
    link = default_link if link_threshold is None else link_threshold
    review = default_review if review_threshold is None else review_threshold
    for option, value in (("--link-threshold", link_threshold), ("--review-threshold", review_threshold)):
        if value is not None and not 0 <= value <= 100:
            raise PipelineError(f"{option} {value:g}: give a score from 0 to 100")
    if review > link:
        said = {True: ("--review-threshold", "--link-threshold"), False: ("the configured review threshold",
                                                                         "the configured link threshold")}
        raise PipelineError(f"{said[review_threshold is not None][0]} {review:g} is above "
                            f"{said[link_threshold is not None][1]} {link:g}; give a review threshold at or below "
                            "the link threshold")
    return link, review


commands = typer.Typer()  # merged into `vcse` by cli/__init__.py


@commands.command("match")
def match_command(
    file: Path = typer.Argument(..., help="Organisations to reconcile, one name per row: CSV (UTF-8 or Excel's "
                                          "Windows CSV) or .xlsx (first sheet, header in row 1)."),
    name_column: str = typer.Option("name", "--name-column", help="Column holding the organisation name."),
    postcode_column: str | None = typer.Option(
        None, "--postcode-column", help="Column holding a postcode (default: 'postcode' when present)."),
    against: Path | None = typer.Option(
        None, "--against",
        help="Match against this list (CSV or .xlsx) instead of the register: columns org_id, name, and optional "
             "postcode, other_names (`|`-separated) and active (true/false/1/0/yes/no, blank = unknown). When "
             "organisations tie on the same name, the only active one among removed namesakes is 'matched'."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the input columns plus org_id, register_name, matched_name (the name "
                                     "matched through), score, status, other_candidate, review_reason (why a row is "
                                     "'review'), is_active and date_removed (the organisation's status) to this .csv "
                                     "or .xlsx file (folders are created)."),
    fmt: TableFormat | None = TableFormatOpt,
    link_threshold: float | None = typer.Option(
        None, "--link-threshold", help="Score (0-100) at or above which a name is 'matched' (default: config)."),
    review_threshold: float | None = typer.Option(
        None, "--review-threshold", help="Score (0-100, at most --link-threshold) from which a name goes to "
                                         "'review' (default: config)."),
    margin: float = typer.Option(
        DEFAULT_MARGIN, "--margin", help="Points (above 0) the best organisation must lead the next by to be "
                                         "'matched'."),
    register_file: Path | None = RegisterOpt,
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Reconcile a list of organisation names (and optional postcodes) against the register.

    The register's organisation.is_active settles ties between organisations of the same name.
    """
    # One configuration for both the default register and the default thresholds.
    cfg = load_config(config, data_dir)
    # a bad --output or --format fails before the matching, not after
    to_stdout = check_table_output(output, fmt, example="matches") is not None and output is None
    link, review = thresholds(cfg, link_threshold, review_threshold)
    if not margin > 0:   # a lead of 0 (two organisations the evidence cannot tell apart) would pass a margin of 0
        raise PipelineError(f"--margin {margin:g}: give a number of points above 0 (default {DEFAULT_MARGIN:g}) by "
                            "which the best organisation must lead the next to be 'matched'")
    frame = read_list(file, "input", text_columns=[name_column, postcode_column or "postcode"])
    require_columns(frame, [name_column], "input", file, option="--name-column")
    if postcode_column:
        require_columns(frame, [postcode_column], "input", file, option="--postcode-column")
    elif "postcode" in frame.columns:
        postcode_column = "postcode"
    if against is not None:
        index = index_from_list(against)
    else:
        index = index_from_register(register_file or cfg.register_path)
    result = match_frame(frame, name_column, postcode_column, index, link_threshold=link,
                         review_threshold=review, margin=margin)
    # when the organisation was removed or dissolved: from the register (an --against list has no dates)
    removed = {} if against is not None else removal_dates(register_file or cfg.register_path,
                                                             result.loc[result["is_active"].eq(False), "org_id"])
    result["date_removed"] = [removed.get(org_id) for org_id in result["org_id"]]
    print_summary(result, name_column, out=err_console if to_stdout else console)
    if to_stdout or output is not None:
        emit_table(*frame_table(result), output, fmt, sheet_title="Matches")
    if output is not None:
        console.print(f"wrote {len(result):,} rows to {output}")
