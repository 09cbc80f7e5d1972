"""Write reports: one search's self-contained HTML page and the PNG of its progress plot,
or a comparison of several searches beside each one's own report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import duckdb

from projections.report import compare as report_compare
from projections.report import data as report_data
from projections.report import html as report_html
from projections.report import png as report_png


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    png: Path | None  # a comparison has no single plot image
    trials: int
    searches: int = 1


def default_folder(runs: Path, search_ids: Sequence[UUID], every: bool) -> Path:
    if len(search_ids) == 1 and not every:
        return runs / "reports" / f"search-{str(search_ids[0])[:8]}"
    return runs / "reports" / report_compare.folder_name([str(s) for s in search_ids], every)


def write(
    con: duckdb.DuckDBPyConnection, search_ids: Sequence[UUID], every: bool, out_dir: Path
) -> ReportFiles:
    """One search's report; or, for several (or --all), a comparison page with each
    search's own report in a `search-<id>` folder beside it."""
    if len(search_ids) == 1 and not every:
        return write_report(con, search_ids[0], out_dir)
    searches = [report_data.load(con, sid) for sid in search_ids]
    for data in searches:
        _write_one(data, out_dir / f"search-{data.search.search_id[:8]}")
    html = out_dir / "report.html"
    html.write_text(report_compare.page(searches), encoding="utf-8")
    return ReportFiles(html, None, sum(len(d.trials) for d in searches), len(searches))


def write_report(con: duckdb.DuckDBPyConnection, search_id: UUID, out_dir: Path) -> ReportFiles:
    return _write_one(report_data.load(con, search_id), out_dir)


def _write_one(data: report_data.ReportData, out_dir: Path) -> ReportFiles:
    out_dir.mkdir(parents=True, exist_ok=True)
    html = out_dir / "report.html"
    html.write_text(report_html.page(data), encoding="utf-8")
    s = data.search
    png = report_png.write_png(
        data.trials,
        s.metric,
        s.lower_is_better,
        out_dir / "progress.png",
        f"{s.task} search {s.ordinal} ({s.search_id[:8]})",
        s.noise_sigma,
        data.resumes,
    )
    return ReportFiles(html, png, len(data.trials))
