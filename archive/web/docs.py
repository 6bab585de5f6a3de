"""``/docs``: Swagger UI for the browse API, served by the archive itself.

FastAPI's own ``/docs`` loads Swagger UI from a CDN and starts it with an inline script; the
archive's Content-Security-Policy (``default-src 'self'``) blocks both, so that page stayed blank,
and an archive used during an outage may have no internet anyway. Here the assets come from the
``fastapi-offline`` package (which bundles a current Swagger UI build) under ``/docs/assets``, and
the start-up script is a file of ours, so the page runs under a policy that still forbids every
other origin and every inline script. The one relaxation on this page only: ``img-src data:``,
for the icons Swagger UI's stylesheet embeds as data URLs.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)
ASSETS = Path(str(files("fastapi_offline") / "static"))
DOCS_POLICY = (
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
)
_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Browse API — Mail archive</title>
  <link rel="icon" href="/docs/assets/favicon.png">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/static/docs.js"></script>
</body>
</html>
"""


def mount_assets(app: FastAPI) -> None:
    """Serve Swagger UI's script and stylesheet from the installed package."""
    app.mount("/docs/assets", StaticFiles(directory=ASSETS), name="docs-assets")


@router.get("/docs")
def docs_page() -> HTMLResponse:
    """Swagger UI over ``/openapi.json``; "Authorize" takes a personal API token."""
    return HTMLResponse(_PAGE, headers={"Content-Security-Policy": DOCS_POLICY})
