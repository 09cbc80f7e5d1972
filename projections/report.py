"""Write a search's report: one self-contained HTML file and a PNG of its progress plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import duckdb

from projections import report_data, report_html, report_png


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    png: Path
    trials: int


def write_report(con: duckdb.DuckDBPyConnection, search_id: UUID, out_dir: Path) -> ReportFiles:
    data = report_data.load(con, search_id)
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
    )
    return ReportFiles(html, png, len(data.trials))
