"""The web app: the original report's upload page and the API behind it.

- ``GET /``: the page (plain HTML/CSS/JS from ``static/``, no build step);
- ``POST /api/colorize``: multipart form, the image in the field ``file`` -> PNG of the same size;
- ``GET /api/health``: the model it serves;
- ``/docs``: OpenAPI.

Bad input is a 4xx with ``{"detail": "..."}``: an empty body (400), bytes that are not an image (415, sniffed
from the content, never the name), over the byte limit (413), over the pixel limit or a decompression bomb
(413), an unsupported image mode (415), a corrupt or tiny image (422). Inference runs in the thread pool, so
concurrent requests each get their own result while the event loop keeps accepting uploads.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from colorgan import images
from colorgan.colorize import Colorizer, png_bytes

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
MAX_BYTES = 20 * 1024 * 1024  # default upload limit
MULTIPART_SLACK = 64 * 1024  # form boundaries and headers around the file in a multipart body

_STATUS = ((images.NotAnImage, 415), (images.UnsupportedMode, 415), (images.TooLarge, 413),
           (images.BadImage, 422))


def create_app(colorizer: Colorizer, model_ref: str = "", max_bytes: int = MAX_BYTES) -> FastAPI:
    """The app around one loaded model (loaded once, by the caller, before the server starts)."""
    app = FastAPI(title="colorgan", summary="Colorize black-and-white photos with a cGAN generator.")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    limit_mb = max_bytes / (1024 * 1024)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:  # never a traceback to the client
        log.exception("error while handling %s", request.url.path)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/health")
    def health() -> dict:
        return {"status": "ok", "model": model_ref, "image_size": colorizer.image_size,
                "color_space": colorizer.color_space, "max_upload_mb": limit_mb,
                "max_megapixels": images.MAX_PIXELS / 1e6}

    @app.post("/api/colorize", response_class=Response,
              responses={200: {"content": {"image/png": {}}, "description": "the colour photo, same size"},
                         400: {"description": "empty upload"}, 413: {"description": "over the byte or pixel limit"},
                         415: {"description": "not an image, or an unsupported mode"},
                         422: {"description": "corrupt or too small"}})
    async def colorize(request: Request,
                       file: Annotated[UploadFile, File(description="the photo (JPEG, PNG, WebP, BMP, TIFF)")]):
        declared = int(request.headers.get("content-length") or 0)
        if declared > max_bytes + MULTIPART_SLACK:
            raise HTTPException(413, f"the upload is {declared / 2**20:.1f} MB, over the {limit_mb:g} MB limit")
        body = await file.read(max_bytes + 1)
        if not body:
            raise HTTPException(400, "the upload is empty: choose an image file")
        if len(body) > max_bytes:
            raise HTTPException(413, f"the file is over the {limit_mb:g} MB limit")
        try:
            rgb = await run_in_threadpool(images.read_image, body)
        except images.BadImage as exc:
            status = next(code for kind, code in _STATUS if isinstance(exc, kind))
            raise HTTPException(status, str(exc)) from None
        out = await run_in_threadpool(colorizer, rgb)
        png = await run_in_threadpool(png_bytes, out)
        stem = Path(file.filename or "photo").stem or "photo"
        return Response(png, media_type="image/png",
                        headers={"Content-Disposition": f'attachment; filename="{_safe(stem)}-colour.png"'})

    return app


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:100] or "photo"
