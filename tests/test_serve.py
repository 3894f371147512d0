"""The web app: the API (good and bad input, parallel requests) on a real uvicorn server, and the page end to end
in Debian's headless chromium (driven by Playwright; no browser is downloaded)."""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
import uvicorn
from conftest import huge_png_header, photo
from PIL import Image

from colorgan import color
from colorgan.references import load_colorizer
from colorgan.serve.app import create_app

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(trained):
    """The app around the trained model on a free port (upload limit 2 MB so the limit is cheap to test)."""
    colorizer, _ = load_colorizer(trained.run_id, trained.root)
    app = create_app(colorizer, f"runs:/{trained.run_id}", max_bytes=2 * 1024 * 1024)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not srv.started and time.time() < deadline:
        time.sleep(0.1)
    assert srv.started, "the server did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=30)


def encode(image: np.ndarray, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **options)
    return buf.getvalue()


def post(url: str, body: bytes, name: str = "photo.png") -> requests.Response:
    return requests.post(f"{url}/api/colorize", files={"file": (name, body, "application/octet-stream")},
                         timeout=120)


def lightness(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(color.rgb_to_lab(np.asarray(rgb, np.float32) / 255.0))[..., 0]


def test_health_docs_and_page(server):
    health = requests.get(f"{server}/api/health", timeout=10).json()
    assert health["status"] == "ok" and health["image_size"] == 32 and health["model"].startswith("runs:/")
    assert "/api/colorize" in requests.get(f"{server}/openapi.json", timeout=10).json()["paths"]
    assert requests.get(f"{server}/docs", timeout=10).status_code == 200
    page = requests.get(server, timeout=10)
    assert page.status_code == 200 and 'id="file"' in page.text and "/static/app.js" in page.text
    assert requests.get(f"{server}/static/app.js", timeout=10).status_code == 200


def test_colorize_returns_a_png_of_the_same_size(server):
    image = photo(77, 123, seed=1)
    reply = post(server, encode(image, "JPEG", quality=95), "holiday.jpg")
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
    assert 'filename="holiday-colour.png"' in reply.headers["content-disposition"]
    got = np.asarray(Image.open(io.BytesIO(reply.content)))
    assert got.shape == (77, 123, 3)


@pytest.mark.parametrize(("body", "status", "message"), [
    (b"", 400, "empty"),
    (b"GIF89a? no, just text pretending to be an image", 415, "not a readable image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, 415, "not a readable image"),
    ("huge", 413, "over 50 megapixels"),
    ("bomb", 413, "too large"),
    ("float", 415, "unsupported image mode 'F'"),
    ("truncated", 422, "corrupt"),
    ("tiny", 422, "too small"),
    ("oversize", 413, "over the 2 MB limit"),
], ids=["empty", "text", "png-signature-only", "over-pixel-limit", "decompression-bomb", "float-mode", "truncated",
        "tiny", "over-byte-limit"])
def test_bad_input_is_a_clear_4xx(server, tmp_path, body, status, message):
    if body == "huge":
        huge_png_header(tmp_path / "x.png", side=8000)  # 64 MP claimed in the header
        body = (tmp_path / "x.png").read_bytes()
    elif body == "bomb":
        huge_png_header(tmp_path / "x.png", side=20000)  # 400 MP: Pillow's own decompression-bomb guard
        body = (tmp_path / "x.png").read_bytes()
    elif body == "float":
        body = encode(np.ones((20, 20), np.float32), "TIFF")
    elif body == "truncated":
        body = encode(photo(200, 200, seed=2))[:3000]
    elif body == "tiny":
        body = encode(np.zeros((4, 4, 3), np.uint8))
    elif body == "oversize":
        body = encode(np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), dtype=np.uint8))  # ~3 MB
    reply = post(server, body, "upload.png")
    assert reply.status_code == status, reply.text
    assert message in reply.json()["detail"]


def test_missing_file_field_is_a_4xx(server):
    reply = requests.post(f"{server}/api/colorize", data={"other": "x"}, timeout=30)
    assert reply.status_code == 422 and "file" in reply.text


def test_parallel_requests_each_get_their_own_result(server):
    inputs = [photo(40 + 13 * i, 90 - 7 * i, seed=10 + i, gray=i % 2 == 0) for i in range(6)]

    def run(image):
        return image, post(server, encode(image))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, inputs))
    for image, reply in results:
        assert reply.status_code == 200, reply.text
        got = np.asarray(Image.open(io.BytesIO(reply.content)))
        rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=-1)
        assert got.shape == rgb.shape
        assert np.abs(lightness(got) - lightness(rgb)).mean() < 1.0  # its own input's lightness, not another's


def test_the_page_end_to_end_in_headless_chromium(server, tmp_path):
    from playwright.sync_api import sync_playwright

    image = photo(240, 320, seed=5, gray=True)
    upload = tmp_path / "old-photo.jpg"
    Image.fromarray(image).save(upload, quality=95)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            for viewport in ({"width": 1200, "height": 900}, {"width": 375, "height": 700}):  # desktop, phone
                page = browser.new_page(viewport=viewport, accept_downloads=True)
                # record every state the page goes through (uploading / processing are brief on a tiny model)
                page.add_init_script("""window.__states = [];
                    new MutationObserver(() => window.__states.push(document.body.dataset.state))
                      .observe(document, {subtree: true, attributes: true, attributeFilter: ['data-state']});""")
                page.goto(server)
                assert page.is_disabled("#submit")
                page.set_input_files("#file", str(upload))
                page.wait_for_selector("#figure:not([hidden])")
                assert page.get_attribute("#image", "src").startswith("blob:")
                page.wait_for_function("document.getElementById('image').naturalWidth === 320")  # the preview
                page.click("#submit")
                page.wait_for_selector("body[data-state=done]", timeout=120_000)
                states = page.evaluate("window.__states")
                assert "uploading" in states and "processing" in states and states[-1] == "done", states
                assert page.is_hidden("#progress-box") and page.is_visible("#download")
                page.wait_for_function("document.getElementById('image').complete && "
                                       "document.getElementById('image').naturalWidth === 320")
                assert "Colorized" in page.inner_text("#caption")
                page.click("#toggle")  # before/after
                assert "Original" in page.inner_text("#caption")
                page.click("#toggle")
                with page.expect_download() as download:
                    page.click("#download")
                saved = tmp_path / f"download-{viewport['width']}.png"
                download.value.save_as(saved)
                assert download.value.suggested_filename == "old-photo-colour.png"
                with Image.open(saved) as got:
                    assert got.size == (320, 240) and got.mode == "RGB"
                assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]  # no sideways scroll
                page.screenshot(path=str(tmp_path / f"page-{viewport['width']}.png"), full_page=True)
                page.close()
        finally:
            browser.close()


def test_the_page_shows_the_servers_message_for_a_bad_file(server, tmp_path):
    from playwright.sync_api import sync_playwright

    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a photo")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(server)
            page.set_input_files("#file", str(bad))
            page.click("#submit")
            page.wait_for_selector("body[data-state=error]", timeout=60_000)
            assert "not a readable image" in page.inner_text("#message")
        finally:
            browser.close()
