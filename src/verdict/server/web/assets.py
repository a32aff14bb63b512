"""Files the pages load, all served by Verdict itself: no CDN, no build step.

Our own stylesheet and script live in ``static/`` beside this module. Third-party
browser code is never copied into the repository: it is read from the installed Python
package that ships it (plotly.js from the ``plotly`` wheel for the charts; Swagger UI
and ReDoc from ``fastapi-offline`` for ``/docs`` and ``/redoc``). Each file is served
with a long cache lifetime and a version in its URL (the package's version), so a
browser asks once per upgrade.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

from verdict import __version__
from verdict.server.errors import NotFoundError

__all__ = ["OWN_STATIC", "VENDOR", "asset_url", "router", "static_files"]

OWN_STATIC = Path(__file__).resolve().parent / "static"
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


@dataclass(frozen=True, slots=True)
class VendorFile:
    package: str  # the import name of the package that ships it
    distribution: str  # its distribution name, for the version in the URL
    path: str  # inside the package
    media_type: str

    def location(self) -> Path:
        return _package_dir(self.package, self.distribution) / self.path

    def version(self) -> str:
        return _version(self.distribution)


# Both are looked up once per process: a page names its assets on every render.
@functools.cache
def _package_dir(package: str, distribution: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise NotFoundError(f"the {distribution} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def _version(distribution: str) -> str:
    return importlib.metadata.version(distribution)


VENDOR: dict[str, VendorFile] = {
    "plotly.min.js": VendorFile(
        "plotly", "plotly", "package_data/plotly.min.js", "text/javascript"
    ),
    "swagger-ui-bundle.js": VendorFile(
        "fastapi_offline", "fastapi-offline", "static/swagger-ui-bundle.js", "text/javascript"
    ),
    "swagger-ui.css": VendorFile(
        "fastapi_offline", "fastapi-offline", "static/swagger-ui.css", "text/css"
    ),
    "redoc.standalone.js": VendorFile(
        "fastapi_offline", "fastapi-offline", "static/redoc.standalone.js", "text/javascript"
    ),
}

router = APIRouter(include_in_schema=False)


@router.get("/static/vendor/{version}/{name}")
def vendor_file(version: str, name: str) -> FileResponse:
    """A third-party browser file from the installed package that ships it."""
    entry = VENDOR.get(name)
    if entry is None:
        raise NotFoundError(f"no vendor file {name!r}")
    return FileResponse(entry.location(), media_type=entry.media_type, headers=_IMMUTABLE)


def asset_url(name: str) -> str:
    """The URL of one of our own static files or of a vendor file (versioned)."""
    entry = VENDOR.get(name)
    if entry is not None:
        return f"/static/vendor/{entry.version()}/{name}"
    return f"/static/{__version__}/{name}"


class _CachedStaticFiles(StaticFiles):
    """Our own files, under a versioned prefix and cached like the vendor files."""

    def file_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers.update(_IMMUTABLE)
        return response


def static_files() -> StaticFiles:
    return _CachedStaticFiles(directory=OWN_STATIC)
