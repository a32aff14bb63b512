"""The worked example of docs/migrating.md runs and prints what the page shows.

Every fenced block whose info string is ``sh migrate`` is concatenated and run by one
``bash -euo pipefail`` in a scratch directory, with this install's ``verdict`` and
``python`` first on ``PATH`` and ``VERDICT_DATABASE_URL`` naming a fresh migrated
SQLite database. Every ``text migrate`` block is output the page claims: its lines
must appear in the script's output, in order.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "migrating.md"
SCRIPT = re.compile(r"^```sh migrate\n(.*?)^```", re.MULTILINE | re.DOTALL)
OUTPUT = re.compile(r"^```text migrate\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_the_worked_example_prints_what_the_page_shows(tmp_path: Path) -> None:
    text = PAGE.read_text(encoding="utf-8")
    blocks, shown = SCRIPT.findall(text), OUTPUT.findall(text)
    assert len(blocks) >= 3
    assert len(shown) >= 3
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")}
    env["VERDICT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'verdict.db'}"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    subprocess.run(
        [sys.executable, "-m", "verdict", "db", "upgrade"], env=env, check=True, capture_output=True
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(blocks)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    printed = [line.rstrip() for line in result.stdout.splitlines()]
    position = 0
    for block in shown:
        for line in block.rstrip("\n").splitlines():
            assert line.rstrip() in printed[position:], (line, result.stdout)
            position = printed.index(line.rstrip(), position) + 1
