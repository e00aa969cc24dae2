"""`vcse tag`: add UKCAT codes and service areas to any CSV of organisations."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from ..errors import PipelineError


def tag_csv(path: Path, out: Path, name_column: str = "name", activities_column: str = "activities",
            objects_column: str = "objects", use_model: bool = True, cache_dir: Path | None = None) -> dict:
    """Tag each row of a CSV; write it with `ukcat_codes` and `service_areas` columns. Returns a summary."""
    import pandas as pd

    from ..tagging.tagger import TextRecord, UkcatTagger, closed_code_list
    from ..tagging.taxonomy import areas_for_tags, default_service_areas

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise PipelineError(f"cannot read {path}: {exc}") from exc
    if name_column not in frame.columns:
        raise PipelineError(f"{path}: no column {name_column!r} (columns: {', '.join(frame.columns)}); "
                            "name the organisation-name column with --name-column")
    for option, column in (("--activities-column", activities_column), ("--objects-column", objects_column)):
        if column not in frame.columns and column not in ("activities", "objects"):
            raise PipelineError(f"{path}: no column {column!r} given by {option} (columns: {', '.join(frame.columns)})")

    def col(name):
        return frame[name].tolist() if name in frame.columns else [""] * len(frame)

    tagger = UkcatTagger.default(cache_dir=cache_dir, use_model=use_model)
    records = [TextRecord(name=n, activities=a, objects=o)
               for n, a, o in zip(col(name_column), col(activities_column), col(objects_column), strict=True)]
    areas = default_service_areas()
    codes_out, areas_out, counts = [], [], Counter()
    for tags in tagger.tag(records):
        codes = closed_code_list(tags, tagger.known)
        found = list(areas_for_tags([("ukcat", c) for c in codes], areas))
        counts.update(found)
        codes_out.append(";".join(codes))
        areas_out.append(";".join(found))
    frame["ukcat_codes"], frame["service_areas"] = codes_out, areas_out
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    return {"rows": len(frame), "tagged": sum(1 for c in codes_out if c),
            "with_service_area": sum(1 for a in areas_out if a), "top_service_areas": counts.most_common(10)}


def register(app: typer.Typer) -> None:
    @app.command("tag")
    def tag(
        file: Path = typer.Argument(..., help="CSV with an organisation name column and optional activities/objects."),
        output: Path = typer.Option(..., "--output", "-o", help="Where to write the tagged CSV."),
        name_column: str = typer.Option("name", help="Column holding the organisation name."),
        activities_column: str = typer.Option("activities", help="Column describing what the organisation does."),
        objects_column: str = typer.Option("objects", help="Column holding charitable objects or purposes."),
        rules_only: bool = typer.Option(False, "--rules-only", help="Use the UKCAT regular expressions alone."),
    ) -> None:
        """Add UKCAT activity codes and service areas to each row of a CSV."""
        from rich.table import Table

        from ..config import Config
        from . import console

        cfg = Config.load()
        summary = tag_csv(file, output, name_column, activities_column, objects_column, use_model=not rules_only,
                          cache_dir=cfg.data_dir / "cache" / "tagging")
        console.print(f"Tagged {summary['tagged']} of {summary['rows']} rows; "
                      f"{summary['with_service_area']} have a service area. Wrote {output}")
        table = Table("service area", "rows", title="Top service areas")
        for area, n in summary["top_service_areas"]:
            table.add_row(area, str(n))
        console.print(table)
