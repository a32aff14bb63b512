"""docs/configuration.md documents every setting, and only settings that exist.

The "Settings" table of the guide has one row per field of
:class:`verdict.server.config.Settings`: its name, its ``VERDICT_`` variable, a default
written as the variable would be (fed back through the environment here and compared
with the field's real default) and its bounds.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from annotated_types import Ge, Gt, Le, Lt

from verdict.server.config import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "configuration.md"
CODE = re.compile(r"`([^`]*)`")
DASH, GE, LE = "\u2013", "\u2265", "\u2264"


def _settings_table() -> dict[str, list[str]]:
    """The rows of the table under ``## Settings``, by setting name."""
    section = GUIDE.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name = CODE.fullmatch(cells[0])
        assert name, f"not a setting name: {cells[0]!r}"
        assert name.group(1) not in rows, f"{name.group(1)} is documented twice"
        rows[name.group(1)] = cells
    return rows


ROWS = _settings_table()


def test_every_setting_is_documented() -> None:
    missing = sorted(set(Settings.model_fields) - set(ROWS))
    assert not missing, f"docs/configuration.md lacks the settings {missing}"


def test_every_documented_setting_exists() -> None:
    gone = sorted(set(ROWS) - set(Settings.model_fields))
    assert not gone, f"docs/configuration.md documents settings that do not exist: {gone}"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_the_documented_variable_and_default_are_the_real_ones(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if name not in ROWS:
        pytest.skip("reported by test_every_setting_is_documented")
    _, variable, _, default, _, meaning = ROWS[name]
    assert variable == f"`VERDICT_{name.upper()}`"
    assert meaning, f"{name}: no meaning given"
    documented = CODE.match(default)
    assert documented, f"{name}: the default {default!r} is not written as `value`"
    for key in [k for k in os.environ if k.startswith("VERDICT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv(f"VERDICT_{name.upper()}", documented.group(1))
    field = Settings.model_fields[name]
    assert getattr(get_settings(), name) == field.get_default(call_default_factory=True)


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_the_documented_bounds_are_the_real_ones(name: str) -> None:
    if name not in ROWS:
        pytest.skip("reported by test_every_setting_is_documented")
    bounds = ROWS[name][4]
    # "1\u20135" (an en dash) states both ends of a range; one end reads "\u2265 1024", "> 0".
    low, high = re.fullmatch(r"(\S+)\u2013(\S+)", bounds).groups() if DASH in bounds else ("", "")
    for constraint in Settings.model_fields[name].metadata:
        for kind, symbol, end in ((Ge, GE, low), (Gt, ">", ""), (Le, LE, high), (Lt, "<", "")):
            if isinstance(constraint, kind):
                value = f"{getattr(constraint, kind.__name__.lower()):g}"
                assert f"{symbol} {value}" in bounds or value == end, (
                    f"{name}: the bound {symbol} {value} is not in {bounds!r}"
                )
