"""Rota tables: the office's rota imports, run as background jobs with their progress."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ivr_gateway.db import Base, UTCDateTime, string_enum


class RotaImportState(enum.StrEnum):
    """Where a rota import stands."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RotaImport(Base):
    """One rota file uploaded on the dashboard: who, which file, how far, and what it did."""

    __tablename__ = "rota_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    who: Mapped[str] = mapped_column(String(100))  # the office actor, e.g. office:max
    file_name: Mapped[str] = mapped_column(String(200))
    state: Mapped[RotaImportState] = mapped_column(string_enum(RotaImportState, 16),
                                                   default=RotaImportState.QUEUED)
    skip_bad_rows: Mapped[bool] = mapped_column(default=False)
    dry_run: Mapped[bool] = mapped_column(default=False)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    # The report (ivr_gateway.rota.imports.report_summary) once done, or {"error": ...} if failed.
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
