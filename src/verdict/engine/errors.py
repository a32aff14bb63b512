"""What can be wrong with configuration, and where: errors carrying JSON paths.

Configuration is validated once, when it is compiled. Every problem is reported with
the JSON path of the offending part (``$.flags.checkout.rules[0].percentage``,
``$.country.$in``) and a reason a person can act on. Evaluation itself never raises
these errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ConditionError",
    "ConfigError",
    "ConfigIssue",
    "child_path",
    "index_path",
]

# Keys made of these characters are written `parent.key`; anything else is quoted.
# Dots are allowed because condition keys are themselves dotted attribute paths.
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_$.\-]+$")


def child_path(path: str, key: str) -> str:
    """The JSON path of member ``key`` of the object at ``path``."""
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def index_path(path: str, index: int) -> str:
    """The JSON path of element ``index`` of the array at ``path``."""
    return f"{path}[{index}]"


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem found while compiling configuration."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class ConfigError(ValueError):
    """Configuration that cannot be compiled; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues: tuple[ConfigIssue, ...] = tuple(issues)
        super().__init__("; ".join(str(issue) for issue in self.issues))

    @staticmethod
    def at(path: str, reason: str) -> ConfigError:
        """A ConfigError with a single issue."""
        return ConfigError([ConfigIssue(path, reason)])


class ConditionError(ConfigError):
    """A targeting condition that cannot be compiled.

    ``path`` is the JSON path of the bad part, relative to the root the condition
    was compiled at (``$`` for a standalone condition), and ``reason`` says why.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__([ConfigIssue(path, reason)])
