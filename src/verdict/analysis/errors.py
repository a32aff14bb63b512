"""Errors of the analysis pipeline, each naming the input field at fault.

The server maps both to a 4xx problem whose ``field`` points at the setting to fix:
``AnalysisDefinitionError`` for a metric or experiment definition the SQL cannot be
built from (``metrics[2].value_path``), ``DataSourceError`` for a data source that
cannot be reached or read (``data_source.url``, ``data_source.events.table``).
"""

from __future__ import annotations

__all__ = ["AnalysisDefinitionError", "AnalysisError", "DataSourceError"]


class AnalysisError(Exception):
    """Base class: ``field`` names the offending input, ``message`` says what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class AnalysisDefinitionError(AnalysisError):
    """A metric, variant or window definition that no SQL can be generated from."""


class DataSourceError(AnalysisError):
    """The data source is unreachable, or a mapped table or column cannot be read."""
