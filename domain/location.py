"""Where a ledger lives: `--ledger` parsed once, into the one value every package reads.

A SQLite ledger is a file; its projections and its runs folder sit beside it. A
PostgreSQL ledger is a URL (`postgresql://` or `postgres://`); its projections and runs
live under `runs/` in the current folder, the projections file named after the server,
database and schema. Any other `scheme://` is refused rather than taken for a file name.
"""

from __future__ import annotations

from pathlib import Path

from domain.base import Immutable

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class BadLocationError(ValueError):
    pass


class LedgerLocation(Immutable):
    text: str  # as given: the SQLite path or the PostgreSQL URL
    postgres: bool

    @classmethod
    def parse(cls, text: str | LedgerLocation) -> LedgerLocation:
        """The one place that reads a ledger location string (a parsed one passes through)."""
        if isinstance(text, LedgerLocation):
            return text
        postgres = text.startswith(POSTGRES_SCHEMES)
        if "://" in text and not postgres:
            raise BadLocationError(
                f"unsupported ledger URL {text.split('://')[0]}://: give a SQLite path or a"
                " postgresql:// URL"
            )
        return cls(text=text, postgres=postgres)

    @property
    def file(self) -> Path | None:
        """The SQLite file; None for PostgreSQL."""
        return None if self.postgres else Path(self.text)

    @property
    def projections(self) -> Path:
        """The DuckDB file beside a SQLite ledger; under runs/ for a PostgreSQL URL."""
        if self.file is None:
            safe = "".join(c if c.isalnum() else "_" for c in self.text.split("@")[-1])
            return Path("runs") / f"{safe}.duckdb"
        return self.file.with_suffix(".duckdb")

    @property
    def runs(self) -> Path:
        """The runs folder (trial run dirs, data, bundles, exports), relative as given."""
        return Path("runs") if self.file is None else self.file.parent
