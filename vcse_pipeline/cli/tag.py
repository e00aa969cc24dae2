"""`vcse tag`: add UKCAT codes and service areas to any list of organisations (CSV or Excel)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import typer

from ..config import Config
from ..procurement.export import TableFormat, check_table_output, emit_table, frame_table
from .options import ConfigOpt, DataDirOpt, TableFormatOpt, load_config

ADDED_COLUMNS = ["ukcat_codes", "service_areas", "service_area_labels"]
# One separator for every list column: the codes and the labels split the same way, one label per code. Labels
# hold commas ("Arts, culture and heritage") but never ";".
LIST_SEPARATOR = ";"
SCREEN_ROWS = 20   # rows shown on screen without --output


def tagger_from_config(cfg: Config, rules_only: bool = False):
    """The tagger and service areas the register build uses ([tagging] in the config); the model is cached under
    <data_dir>/cache/tagging, never in the current folder."""
    from ..tagging.model import cached_model
    from ..tagging.rules import load_rules
    from ..tagging.tagger import UkcatTagger
    from ..tagging.taxonomy import load_service_areas

    settings = cfg.section("tagging")
    rules = load_rules()
    areas = load_service_areas(settings.get("service_areas") or None)
    model = None
    if settings.get("use_model", True) and not rules_only:
        model = cached_model(rules, cfg.data_dir / "cache" / "tagging", areas=areas)
        threshold = float(settings.get("threshold") or 0)
        if threshold > 0:   # a configured threshold overrides the one chosen in training, as in the build
            model = dataclasses.replace(model, threshold=threshold)
    return UkcatTagger(rules, model), areas


def check_columns(frame, path: Path, name_column: str, activities_column: str, objects_column: str) -> None:
    """The name column must be there; --activities-column and --objects-column only when given (the default
    columns are optional)."""
    from ..tabular_io import require_columns

    require_columns(frame, [name_column], "input", path, option="--name-column")
    for option, column in (("--activities-column", activities_column), ("--objects-column", objects_column)):
        if column not in ("activities", "objects"):
            require_columns(frame, [column], "input", path, option=option)


def tag_frame(frame, name_column: str, activities_column: str, objects_column: str, tagger, areas,
              generic=None) -> dict:
    """Add ukcat_codes, service_areas (codes) and service_area_labels to `frame` in place; return a summary.
    Service areas are placed from the evidence as the register build places them (tagging/areas.py); `generic` is
    the taxonomy's [generic_evidence] (the packaged one by default)."""
    from ..tagging.areas import place_records
    from ..tagging.tagger import TextRecord, closed_code_list
    from ..tagging.taxonomy import load_generic_evidence

    def col(name):
        return frame[name].tolist() if name in frame.columns else [""] * len(frame)

    labels = {a.code: a.label for a in areas}
    records = [TextRecord(name=n, activities=a, objects=o)
               for n, a, o in zip(col(name_column), col(activities_column), col(objects_column), strict=True)]
    codes_out, areas_out, counts = [], [], Counter()
    tagged, placed = place_records(tagger, records, areas, generic or load_generic_evidence())
    for tags, placements in zip(tagged, placed, strict=True):
        codes = closed_code_list(tags, tagger.known)
        found = [p.service_area for p in placements]
        counts.update(found)
        codes_out.append(codes)
        areas_out.append(found)
    frame["ukcat_codes"] = [LIST_SEPARATOR.join(c) for c in codes_out]
    frame["service_areas"] = [LIST_SEPARATOR.join(a) for a in areas_out]
    frame["service_area_labels"] = [LIST_SEPARATOR.join(labels[a] for a in found) for found in areas_out]
    return {"rows": len(frame), "tagged": sum(1 for c in codes_out if c),
            "with_service_area": sum(1 for a in areas_out if a),
            "top_service_areas": [(labels[a], n) for a, n in counts.most_common(10)]}


def print_rows(frame, name_column: str, console) -> None:
    from rich.table import Table

    shown = frame.head(SCREEN_ROWS)
    table = Table(title=f"First {len(shown)} of {len(frame):,} rows" if len(frame) > len(shown) else None,
                  title_justify="left", pad_edge=False)
    table.add_column(name_column, ratio=2, overflow="fold")
    table.add_column("service areas", ratio=2, overflow="fold")
    table.add_column("UKCAT codes", ratio=1, overflow="fold")
    for name, area_labels, codes in zip(shown[name_column], shown["service_area_labels"], shown["ukcat_codes"],
                                        strict=True):
        table.add_row(name or "", area_labels.replace(LIST_SEPARATOR, "; "), codes.replace(LIST_SEPARATOR, " "))
    console.print(table)
    console.print("[dim]Write every row and column with -o FILE.csv or -o FILE.xlsx.[/]")


commands = typer.Typer()  # merged into `vcse` by cli/__init__.py


@commands.command("tag")
def tag(
    file: Path = typer.Argument(..., help="Organisations, one a row, with a name column and optional activities/"
                                          "objects: CSV (UTF-8 or Excel's Windows CSV) or .xlsx (first sheet)."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the input columns plus ukcat_codes, service_areas (codes) and "
                                     "service_area_labels to this .csv or .xlsx file (default: a table on "
                                     "screen)."),
    fmt: TableFormat | None = TableFormatOpt,
    name_column: str = typer.Option("name", help="Column holding the organisation name."),
    activities_column: str = typer.Option("activities", help="Column describing what the organisation does."),
    objects_column: str = typer.Option("objects", help="Column holding charitable objects or purposes."),
    rules_only: bool = typer.Option(False, "--rules-only",
                                    help="Use the UKCAT regular expressions alone (no model; \\[tagging] use_model "
                                         "= false does the same). The model is cached under <data dir>/cache."),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Add UKCAT activity codes and service areas (codes and labels) to each row of a list of organisations."""
    from rich.table import Table

    from ..tabular_io import read_table
    from . import console, err_console, note

    cfg = load_config(config, data_dir)
    # a bad --output or --format fails before the tagging, not after
    to_stdout = check_table_output(output, fmt, example="tagged") is not None and output is None
    # the columns read as text; a workbook's other columns keep their numbers and dates for the output file
    # blank rows between rows kept, as `vcse match` keeps them: the output lines up with the input row by row
    frame = read_table(file, "input", note=note, keep_blank_rows=True,
                       text_columns=[name_column, activities_column, objects_column])
    check_columns(frame, file, name_column, activities_column, objects_column)
    tagger, areas = tagger_from_config(cfg, rules_only)
    from ..tagging.taxonomy import load_generic_evidence

    generic = load_generic_evidence(cfg.section("tagging").get("service_areas") or None)
    summary = tag_frame(frame, name_column, activities_column, objects_column, tagger, areas, generic)
    screen = err_console if to_stdout else console   # standard output carries the CSV alone
    screen.print(f"Tagged {summary['tagged']:,} of {summary['rows']:,} rows; "
                 f"{summary['with_service_area']:,} have a service area.")
    table = Table(title="Top service areas", title_justify="left")
    table.add_column("service area")
    table.add_column("rows", justify="right")
    for label, n in summary["top_service_areas"]:
        table.add_row(label, f"{n:,}")
    screen.print(table)
    if output is None and not to_stdout:
        print_rows(frame, name_column, console)
        return
    emit_table(*frame_table(frame), output, fmt, sheet_title="Tagged")
    if output is not None:
        console.print(f"wrote {summary['rows']:,} rows to {output}")
