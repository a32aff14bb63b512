"""The engine stays pure: standard library, mmh3 and RE2 only, no Verdict layer above it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import verdict.engine

ENGINE = Path(verdict.engine.__file__).resolve().parent
ALLOWED_THIRD_PARTY = {"mmh3", "re2"}  # re2: google-re2, linear-time regex matching


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_engine_modules_import_only_the_standard_library_mmh3_re2_and_the_engine() -> None:
    for path in sorted(ENGINE.glob("*.py")):
        for module in _imported_modules(path):
            top = module.split(".")[0]
            if top == "verdict":
                assert module.startswith("verdict.engine"), f"{path.name} imports {module}"
            else:
                assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
                    f"{path.name} imports {module}"
                )


def test_importing_the_engine_loads_no_server_sdk_or_web_package() -> None:
    probe = (
        "import sys, verdict.engine; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy','pydantic','fastapi','httpx','starlette','alembic','numpy','scipy'} "
        "or m.startswith(('verdict.server','verdict.sdk'))]; print(bad)"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def test_every_engine_module_is_under_500_lines_and_has_a_docstring() -> None:
    for path in ENGINE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 500, path.name
        assert ast.get_docstring(ast.parse(text)), path.name
