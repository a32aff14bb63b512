"""npm packages the suites use (the JavaScript OFREP providers, axe-core for the
dashboard's browser tests): installed with ``npm ci`` once, outside the repository.

Each install lives in the user's cache directory, in a folder named after a hash of the
suite's ``package.json`` and ``package-lock.json``: an unchanged lock file reuses it (no
network), a changed one installs afresh. A file lock makes parallel test workers wait
for one install instead of racing. The OFREP driver script is copied next to the
installed ``node_modules`` so that Node resolves the packages from there.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["JS_DIR", "MIN_NODE_MAJOR", "NodeSetupError", "install", "installed"]

JS_DIR = Path(__file__).resolve().parent / "integration" / "conformance" / "js"
MIN_NODE_MAJOR = 18  # the first with a global fetch, which both providers use
_INSTALL_TIMEOUT = 600
_MARKER = ".installed"


class NodeSetupError(Exception):
    """Node or the providers are not available; the message says what to do."""


def _cache_root(name: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "verdict" / name


def _tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    missing = [name for name, path in (("node", node), ("npm", npm)) if path is None]
    if node is None or npm is None:
        raise NodeSetupError(
            f"the suite needs {' and '.join(missing)} on PATH "
            "(Debian: apt-get install nodejs npm; scripts/test installs them when run as root)"
        )
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    match = re.match(r"v(\d+)\.", version)
    if match is None or int(match.group(1)) < MIN_NODE_MAJOR:
        raise NodeSetupError(
            f"the suite needs Node {MIN_NODE_MAJOR} or later; {node} is "
            f"{version or 'of an unknown version'}"
        )
    return node, npm


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _digest(*parts: bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(hashlib.sha256(part).digest())
    return hasher.hexdigest()[:16]


def _npm_ci(npm: str, target: Path, js_dir: Path) -> None:
    if target.exists():
        shutil.rmtree(target)  # an install that died half-way
    target.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(js_dir / name, target / name)
    try:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=target,
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise NodeSetupError(
            f"npm ci did not finish within {_INSTALL_TIMEOUT} s in {target}; "
            "is the npm registry reachable from here?"
        ) from exc
    if result.returncode != 0:
        said = [
            line
            for line in (result.stderr or result.stdout).strip().splitlines()
            if not re.match(r"npm (error|ERR!)\s+at ", line)  # stack frames say nothing here
        ]
        tail = "\n".join(said[:10])
        raise NodeSetupError(
            f"npm ci could not install {js_dir / 'package.json'} into {target} (exit "
            f"{result.returncode}). Is the npm registry reachable (npm config get registry, "
            "proxy settings)? Once installed, the copy is reused offline until "
            f"the package-lock.json changes. npm said:\n{tail}"
        )
    (target / _MARKER).write_text("ok\n")


def installed(js_dir: Path, name: str) -> Path:
    """The folder whose ``node_modules`` holds the packages of ``js_dir``'s lock file
    (installed on first use into the cache folder ``name``)."""
    _, npm = _tools()
    manifest = (js_dir / "package.json").read_bytes()
    lock = (js_dir / "package-lock.json").read_bytes()
    root = _cache_root(name)
    target = root / _digest(manifest, lock)
    with _locked(root / ".lock"):
        if not (target / _MARKER).exists():
            _npm_ci(npm, target, js_dir)
    return target


def install() -> tuple[str, Path]:
    """Node's path and the OFREP driver script, with the providers installed beside it."""
    node, _ = _tools()
    target = installed(JS_DIR, "ofrep-conformance")
    source = (JS_DIR / "driver.mjs").read_bytes()
    driver = target / f"driver-{_digest(source)}.mjs"
    if not driver.exists():
        with tempfile.NamedTemporaryFile(dir=target, suffix=".tmp", delete=False) as handle:
            handle.write(source)
        os.replace(handle.name, driver)
    return node, driver
