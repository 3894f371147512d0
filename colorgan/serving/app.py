"""The web app: the original report's upload page and the API behind it.

- ``GET /``: the page (plain HTML/CSS/JS from ``static/``, no build step);
- ``POST /api/colorize``: multipart form, the image in the field ``file`` -> PNG of the same size;
- ``GET /api/health``: the model it serves and the limits;
- ``/docs``: OpenAPI.

Bad input is a 4xx whose body is ``{"detail": "<one sentence>"}`` (a string, always): an empty body (400), bytes
that are not an image (415, sniffed from the content, never the name), over the byte limit (413), over the pixel
limit or a decompression bomb (413), an unsupported image mode (415), a corrupt or tiny image (422), a missing
form field (422), a body that arrives too slowly (408). Inference runs in the thread pool, so concurrent requests
each get their own result while the event loop keeps accepting uploads; how many pixels are in work at once,
how long a body may take and how memory is handed back are colorgan.serving.limits.
"""

from __future__ import annotations

import logging
import unicodedata
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from colorgan.base import diskspace
from colorgan.data import images
from colorgan.serving import limits as limits_mod
from colorgan.serving.colorize import Colorizer, png_bytes
from colorgan.serving.limits import Limits, PixelBudget

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
MAX_BYTES = 20 * 1024 * 1024  # default upload limit
TMP_FULL = "the server's temporary folder is full: try a smaller photo or later"  # the 507's detail

_STATUS = ((images.NotAnImage, 415), (images.UnsupportedMode, 415), (images.TooLarge, 413),
           (images.BadImage, 422))


def create_app(colorizer: Colorizer, model_ref: str = "", max_bytes: int = MAX_BYTES,
               limits: Limits | None = None) -> FastAPI:
    """The app around one loaded model (loaded once, by the caller, before the server starts)."""
    limits = limits or Limits()
    app = FastAPI(title="colorgan", summary="Colorize black-and-white photos with a cGAN generator.")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(limits_mod.BodyLimit, max_body=max_bytes + limits_mod.MULTIPART_SLACK, limits=limits)
    budget = PixelBudget(limits)
    limit_mb = max_bytes / (1024 * 1024)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:  # never a traceback to the client
        if diskspace.is_full(exc):  # a large upload spools to the temporary folder: a full disk is not our bug
            log.error("no space to receive %s: %s", request.url.path, exc)
            return JSONResponse({"detail": TMP_FULL}, status_code=507)
        log.exception("error while handling %s", request.url.path)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI turns any error while it parses the form into 400 "There was an error parsing the body", a full
        # temporary folder included (Starlette spools an upload over 1 MB there): that one is ours to name, 507
        if diskspace.is_full(exc):
            log.error("no space to receive %s: %s", request.url.path, exc.__cause__ or exc)
            return JSONResponse({"detail": TMP_FULL}, status_code=507)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:  # a string, not FastAPI's list
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:  # browsers ask for it whatever the page links
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    @app.get("/api/health")
    def health() -> dict:
        return {"status": "ok", "model": model_ref, "image_size": colorizer.image_size,
                "color_space": colorizer.color_space, "max_upload_mb": limit_mb,
                "max_megapixels": images.MAX_PIXELS / 1e6}

    @app.post("/api/colorize", response_class=Response,
              responses={200: {"content": {"image/png": {}}, "description": "the colour photo, same size"},
                         400: {"description": "empty upload"}, 408: {"description": "the body arrived too slowly"},
                         413: {"description": "over the byte or pixel limit"},
                         415: {"description": "not an image, or an unsupported mode"},
                         422: {"description": "corrupt or too small, or no field `file`"},
                         503: {"description": "busy with other large photos: retry after Retry-After seconds"}})
    async def colorize(file: Annotated[UploadFile, File(description="the photo (JPEG, PNG, WebP, BMP, TIFF)")]):
        if not file.size:
            raise HTTPException(400, "the upload is empty: choose an image file")
        if file.size > max_bytes:
            raise HTTPException(413, f"the file is over the {limit_mb:g} MB limit")
        try:  # the upload is spooled to disk by the form parser; only its header is read before the budget
            w, h = await run_in_threadpool(images.header_size, file.file)
            async with budget.hold(w * h):
                png = await run_in_threadpool(_colorize_png, colorizer, file.file)
        except images.BadImage as exc:
            status = next(code for kind, code in _STATUS if isinstance(exc, kind))
            raise HTTPException(status, str(exc)) from None
        return Response(png, media_type="image/png",
                        headers={"Content-Disposition": content_disposition(file.filename, "-colour.png")})

    return app


def _colorize_png(colorizer: Colorizer, source) -> bytes:
    """Decode, colorize and encode one photo, then hand the freed memory back (limits.release_memory)."""
    try:
        photo = images.open_photo(source)
        out = colorizer.colorize_image(photo)
        del photo
        return png_bytes(out)
    finally:
        limits_mod.release_memory()


def _validation_message(exc: RequestValidationError) -> str:
    """FastAPI's list of validation errors -> one sentence naming each field."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
        if where == "file" and error.get("type") == "missing":
            parts.append("the form field 'file' is missing: send the image as multipart/form-data field 'file'")
        else:
            parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def content_disposition(filename: str | None, suffix: str) -> str:
    """``attachment`` with the result's name: an ASCII ``filename=`` for every client and, when the name is not
    plain ASCII, RFC 5987's ``filename*=UTF-8''...`` (browsers prefer it), so any upload name works."""
    stem = Path(filename or "").stem
    stem = "".join(c for c in stem if c.isprintable() and c not in '/\\"')[:100].strip() or "photo"
    fallback = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()  # é -> e, ф -> (dropped)
    fallback = "".join(c if c.isalnum() or c in "-_." else "_" for c in fallback).strip("_.") or "photo"
    header = f'attachment; filename="{fallback}{suffix}"'
    if fallback != stem:
        header += f"; filename*=UTF-8''{quote(stem + suffix, safe='')}"
    return header
