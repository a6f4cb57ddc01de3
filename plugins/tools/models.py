"""What the Tools plugin stores: each speed test a user ran."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.api import Model


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class SpeedTestResult(Model):
    __tablename__ = "tools_speed_test_result"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), nullable=False, index=True)
    measured_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, nullable=False)
    latency_ms: Mapped[float] = mapped_column(Float, nullable=False)
    download_mbps: Mapped[float] = mapped_column(Float, nullable=False)
    upload_mbps: Mapped[float] = mapped_column(Float, nullable=False)
    verdict: Mapped[str] = mapped_column(String(80), nullable=False)
