"""The offline examples of docs/sdk.md run and print what their ``# ->`` lines say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "sdk.md"


def doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


@pytest.mark.parametrize(
    ("marker", "lines"),
    [
        ("bootstrap=config", 0),  # the offline guide
        ("sticky_store=store", 3),  # sticky assignments
        ('get_variant("landing"', 2),  # payloads and split-URL redirects
    ],
)
def test_an_offline_example_prints_what_the_guide_says(marker: str, lines: int) -> None:
    example = next(block for block in doc_blocks() if marker in block)
    expected = [line.strip()[len("# -> ") :] for line in example.splitlines() if "# -> " in line]
    assert expected, "the example lost its # -> lines"
    assert not lines or len(expected) == lines
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(example, str(DOC), "exec"), {})
    assert output.getvalue().splitlines() == expected
