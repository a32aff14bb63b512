"""The background worker: maintenance that must not run inside a request.

It runs retention every ``worker_interval`` seconds until told to stop (SIGTERM or
SIGINT set the stop event); a stop during a run ends it between two delete chunks, so
every chunk is either committed or not started. A failed run (the database briefly
unreachable) is reported and retried at the next interval instead of ending the worker.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from verdict.server.config import Settings
from verdict.server.retention.service import RetentionReport, run_retention

__all__ = ["describe_retention", "run_worker", "stop_on_signals"]


def describe_retention(report: RetentionReport) -> list[str]:
    """Lines a person reads: what expired, and what was (or would be) deleted."""
    lines = [
        f"experiment {e.key} (completed {e.completed_at:%Y-%m-%d}): {e.assignments} assignments"
        for e in report.experiments
    ]
    cutoff = f"completed before {report.cutoff:%Y-%m-%d %H:%M} UTC"
    if report.dry_run:
        lines.append(f"dry run: would delete {report.expired} assignments of experiments {cutoff}")
    else:
        lines.append(f"deleted {report.deleted} assignments of experiments {cutoff}")
        if not report.finished:
            lines.append("stopped before the end; the next run deletes the rest")
    return lines


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT ask the worker to stop after the current chunk."""

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def run_worker(
    *,
    settings: Settings,
    session_factory: sessionmaker[Session],
    stop: threading.Event,
    say: Callable[[str], None],
) -> int:
    """Run retention now and every ``settings.worker_interval`` seconds until ``stop``
    is set; answer how many runs were made."""
    runs = 0
    say(f"worker started: retention every {settings.worker_interval:g} s")
    while not stop.is_set():
        try:
            with session_factory() as session:
                report = run_retention(
                    session,
                    days=settings.retention_days,
                    chunk_size=settings.retention_chunk_size,
                    stop=stop,
                )
            for line in describe_retention(report):
                say(f"retention: {line}")
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            say(f"retention failed, retrying in {settings.worker_interval:g} s: {reason}")
        runs += 1
        stop.wait(settings.worker_interval)
    say("worker stopped")
    return runs
