"""The offline example of docs/sdk.md runs and prints what its ``# ->`` lines say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "sdk.md"


def test_the_offline_example_prints_what_the_guide_says() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    example = next(block for block in blocks if "bootstrap=config" in block)
    expected = [line.strip()[len("# -> ") :] for line in example.splitlines() if "# -> " in line]
    assert expected, "the example lost its # -> lines"
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(example, str(DOC), "exec"), {})
    assert output.getvalue().splitlines() == expected
