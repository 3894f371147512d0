"""The web app: the API (good and bad input, parallel requests) on a real uvicorn server, and the page end to end
in Debian's headless chromium (driven by Playwright; no browser is downloaded)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import requests
import uvicorn
from conftest import free_port, huge_png_header, photo
from PIL import Image

from colorgan.bench.serve_probe import memory
from colorgan.data import color
from colorgan.serving import limits as limits_mod
from colorgan.serving.app import content_disposition, create_app
from colorgan.serving.limits import Limits, PixelBudget, server_config
from colorgan.serving.references import load_colorizer

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
# short read timeouts, so that testing them is quick (the defaults are in Limits and docs/serving.md)
FAST = Limits(body_s=3.0, idle_s=2.0, header_s=2.0)


@pytest.fixture(scope="module")
def server(trained):
    """The app around the trained model on a free port, started with the CLI's server settings (server_config)
    but an upload limit of 2 MB and short read timeouts (FAST), so the limits are cheap to test."""
    colorizer, _ = load_colorizer(trained.run_id, trained.root)
    app = create_app(colorizer, f"runs:/{trained.run_id}", max_bytes=2 * 1024 * 1024, limits=FAST)
    port = free_port()
    srv = uvicorn.Server(server_config(app, "127.0.0.1", port, FAST, log_level="warning"))
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
    ("bomb", 413, "too large: 400 megapixels is over 50 megapixels"),
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
        huge_png_header(tmp_path / "x.png", side=20000)  # 400 MP: Pillow's guard fires first; same message
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


def test_every_4xx_has_a_string_detail(server):
    missing = requests.post(f"{server}/api/colorize", data={"other": "x"}, timeout=30)
    assert missing.status_code == 422
    assert missing.json()["detail"] == ("the form field 'file' is missing: send the image as multipart/form-data "
                                        "field 'file'")
    for reply, status in ((requests.get(f"{server}/nope", timeout=10), 404),
                          (requests.get(f"{server}/api/colorize", timeout=10), 405),
                          (requests.post(f"{server}/api/colorize", data=b"{", timeout=10,
                                         headers={"Content-Type": "multipart/form-data"}), 400)):
        assert reply.status_code == status and isinstance(reply.json()["detail"], str), reply.text


@pytest.mark.parametrize(("name", "expected"), [("фото.jpg", "фото-colour.png"), ("漢字.png", "漢字-colour.png")])
def test_a_file_name_that_is_not_latin1_works(server, name, expected):
    reply = post(server, encode(photo(40, 50, seed=3)), name)
    assert reply.status_code == 200, reply.text  # was a 500 after the whole inference: the header could not hold it
    header = reply.headers["content-disposition"]
    assert 'filename="photo-colour.png"' in header  # the ASCII fallback
    assert unquote(header.split("filename*=UTF-8''")[1]) == expected  # RFC 5987, what browsers use
    assert Image.open(io.BytesIO(reply.content)).size == (50, 40)


def test_content_disposition_names():
    assert content_disposition("holiday.jpg", "-colour.png") == 'attachment; filename="holiday-colour.png"'
    assert content_disposition("Café déjà.png", "-x.png") == (
        "attachment; filename=\"Cafe_deja-x.png\"; filename*=UTF-8''Caf%C3%A9%20d%C3%A9j%C3%A0-x.png")
    assert content_disposition('../"evil"\\.png', ".png").startswith('attachment; filename="evil.png"')
    assert content_disposition(None, ".png") == 'attachment; filename="photo.png"'


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (socket.timeout if it never does)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_declared_body_over_the_limit_is_refused_at_once(server):
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /api/colorize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: 1000000000000\r\n\r\n")
        reply = _read_all(sock)  # never answered before: the server waited for the 1 TB
    assert reply.startswith(b"HTTP/1.1 413") and time.monotonic() - started < 2, reply
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1]) == {"detail": "the upload is 931.3 GB, over the 2 MB limit"}


def test_a_body_over_the_limit_is_cut_off_while_it_is_read(server):
    """No Content-Length (chunked): the limit is counted on the bytes as they arrive, so the server answers (or
    hangs up) long before the client has sent 64 MB; it used to read all of it before saying no."""
    sent = 0

    def chunks():
        nonlocal sent
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\n'
        for _ in range(1024):  # 64 MB in all, 32 times the 2 MB limit
            sent += 65536
            yield b"\0" * 65536

    try:
        reply = requests.post(f"{server}/api/colorize", data=chunks(), timeout=30,
                              headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert reply.status_code == 413 and "over the 2 MB limit" in reply.json()["detail"]
    except requests.ConnectionError:
        pass  # the server hung up after its 413 while the client was still sending
    assert sent < 16 * 2**20, f"the server read {sent / 2**20:.0f} MB before refusing"


def test_a_slow_body_times_out(server):
    with _connect(server) as sock:
        sock.sendall(b"POST /api/colorize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: 1000\r\n\r\n"
                     b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\n')
        started = time.monotonic()
        while not select.select([sock], [], [], 0.5)[0]:  # one byte every half second until the server answers
            assert time.monotonic() - started < 10, "the slow body was never timed out"
            sock.sendall(b"\0")
        reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert FAST.body_s - 0.5 < time.monotonic() - started < FAST.body_s + 2
    assert b"the upload was too slow" in reply


def test_slow_headers_are_closed_and_the_server_keeps_serving(server):
    socks = [_connect(server) for _ in range(10)]
    try:
        for sock in socks:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        started, open_ = time.monotonic(), list(socks)
        assert requests.get(f"{server}/api/health", timeout=5).status_code == 200  # others are still served
        while open_ and time.monotonic() - started < 10:
            for sock in select.select(open_, [], [], 0.5)[0]:
                try:
                    closed = sock.recv(1024) == b""
                except ConnectionResetError:  # closed with a reset: our unread header bytes were still pending
                    closed = True
                if closed:
                    open_.remove(sock)
            for sock in open_:
                try:
                    sock.sendall(b"X")  # a header byte at a time, slowloris style
                except OSError:
                    open_.remove(sock)
        assert not open_, f"{len(open_)} slow connections were still open after 10 s"
        assert time.monotonic() - started < FAST.header_s + 2
    finally:
        for sock in socks:
            sock.close()


def test_the_pixel_budget_bounds_work_in_flight_and_answers_busy():
    async def scenario():
        budget = PixelBudget(Limits(pixel_budget=100, queue_s=0.3, retry_after_s=7))
        seen = []

        async def job(name, pixels, seconds):
            try:
                async with budget.hold(pixels):
                    seen.append(budget.in_use)
                    await asyncio.sleep(seconds)
                return name, 200, None
            except limits_mod.Busy as exc:
                return name, exc.status_code, exc.headers["Retry-After"]

        first = await asyncio.gather(job("a", 80, 1.0), job("b", 50, 0), job("c", 20, 0))
        alone = await job("huge", 10**9, 0)  # over the whole budget: runs, alone
        return first, alone, seen, budget.in_use

    first, alone, seen, left = asyncio.run(scenario())
    assert first == [("a", 200, None), ("b", 503, "7"), ("c", 200, None)]  # b did not fit within 0.3 s
    assert alone == ("huge", 200, None) and max(seen) == 100 and left == 0


# The server of the memory test: the real app and server settings around an untrained generator (the memory is
# the image handling's, not the model's), in its own process so that its resident memory can be measured.
MEMORY_SERVER = """
import sys
import uvicorn
from colorgan.model import networks
from colorgan.serving.colorize import Colorizer
from colorgan.serving.app import create_app
from colorgan.serving.limits import Limits, server_config
limits = Limits(queue_s=5.0)  # the default budget (one 50 MP photo at a time); a short wait keeps the test quick
app = create_app(Colorizer(networks.build_generator(32, 2), 32, "lab"), "untrained", limits=limits)
uvicorn.Server(server_config(app, "127.0.0.1", int(sys.argv[1]), limits, log_level="warning")).run()
"""
MEMORY_CEILING = 1.0 * 2**30  # docs/serving.md: peak resident memory above the idle server's, 49 MP photos at once
GB = 2**30


def test_several_49_megapixel_photos_at_once_stay_under_the_memory_ceiling(tmp_path):
    """Was: one 61 KiB grey 7000x7000 PNG raised the resident memory by about 3 GB, and it stayed there; three at
    once by about 6 GB. Now the pixels in work are budgeted (one such photo at a time; others wait up to queue_s,
    then 503 + Retry-After), a photo is colorized without float copies of itself, and memory is handed back."""
    ramp = (np.arange(7000) // 50).astype(np.uint8)
    Image.fromarray(ramp[:, None] + ramp[None, ::-1], "L").save(tmp_path / "big.png")  # 49 MP, small on disk
    body = (tmp_path / "big.png").read_bytes()
    assert len(body) < 2**20
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(tmp_path / "server.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-c", MEMORY_SERVER, str(port)], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
    url, done = f"http://127.0.0.1:{port}", threading.Event()
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if requests.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.3)
        assert post(url, encode(photo(64, 64, gray=True))).status_code == 200  # warm-up: the graphs are traced
        idle = memory(proc.pid)["VmRSS"]
        over = []

        def watchdog():  # a server far over the ceiling is stopped before it can take the machine's memory
            while not done.wait(0.05):
                rss = memory(proc.pid)["VmRSS"]
                if rss > idle + 2 * MEMORY_CEILING:
                    over.append(rss)
                    proc.kill()
                    return

        threading.Thread(target=watchdog, daemon=True).start()

        def send(i):
            try:
                return post(url, body, f"big{i}.png")
            except requests.ConnectionError as exc:
                return exc

        started = time.monotonic()
        with ThreadPoolExecutor(3) as pool:
            replies = list(pool.map(send, range(3)))
        seconds = time.monotonic() - started
        done.set()
        assert not over, f"the server's memory went {over[0] / GB - idle / GB:.1f} GB over its idle size: stopped"
        peak = memory(proc.pid)["VmHWM"]
        time.sleep(1.0)
        after = memory(proc.pid)["VmRSS"]
        print(f"3 x 49 MP at once: {seconds:.1f} s, statuses {[r.status_code for r in replies]}; resident memory "
              f"idle {idle / GB:.2f} GB, peak {peak / GB:.2f} GB, after {after / GB:.2f} GB")
        statuses = [r.status_code for r in replies]
        assert set(statuses) <= {200, 503} and 200 in statuses, [r.text[:200] for r in replies]
        for reply in replies:
            if reply.status_code == 200:
                assert Image.open(io.BytesIO(reply.content)).size == (7000, 7000)
            else:
                assert int(reply.headers["Retry-After"]) > 0 and "busy" in reply.json()["detail"]
        assert peak - idle < MEMORY_CEILING, f"peak {peak / GB:.2f} GB, idle {idle / GB:.2f} GB"
        assert after - idle < 0.25 * GB, f"after {after / GB:.2f} GB, idle {idle / GB:.2f} GB: memory not returned"
    finally:
        done.set()
        proc.terminate()
        proc.wait(timeout=30)


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
                failed = []  # every answer of 400 or more the page got (a missing /favicon.ico was one)
                page.on("response", lambda r, failed=failed: r.status < 400 or failed.append(f"{r.status} {r.url}"))
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
                assert page.inner_text("#caption") == "Colorized: old-photo-colour.png"
                page.click("#toggle")  # before/after
                assert page.inner_text("#caption") == "Original: old-photo.jpg"
                page.click("#toggle")
                assert page.inner_text("#caption") == "Colorized: old-photo-colour.png"  # the result, not the input
                with page.expect_download() as download:
                    page.click("#download")
                saved = tmp_path / f"download-{viewport['width']}.png"
                download.value.save_as(saved)
                assert download.value.suggested_filename == "old-photo-colour.png"
                with Image.open(saved) as got:
                    assert got.size == (320, 240) and got.mode == "RGB"
                assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]  # no sideways scroll
                page.screenshot(path=str(tmp_path / f"page-{viewport['width']}.png"), full_page=True)
                assert not failed, failed
                page.close()
        finally:
            browser.close()


def test_the_page_refuses_a_file_that_is_not_an_image_and_says_what_is_accepted(server, tmp_path):
    """Was: a broken-image icon stayed on screen, Colorize stayed enabled and the message was terse."""
    from playwright.sync_api import sync_playwright

    good, bad = tmp_path / "old-photo.png", tmp_path / "notes.jpg"
    Image.fromarray(photo(60, 80, seed=2, gray=True)).save(good)
    bad.write_text("this is not a photo")
    assert requests.get(f"{server}/favicon.ico", timeout=10).status_code == 200
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(server)
            page.wait_for_function("document.getElementById('limits').textContent.includes('2 MB')")
            assert "JPEG, PNG, WebP, BMP or TIFF; up to 2 MB and 50 megapixels" in page.inner_text("#limits")
            page.set_input_files("#file", str(good))
            page.wait_for_selector("body[data-state=preview]")
            assert page.is_enabled("#submit")
            page.set_input_files("#file", str(bad))  # after a good one: its preview must not stay
            page.wait_for_selector("body[data-state=error]")
            assert page.is_disabled("#submit") and page.is_hidden("#figure")
            assert page.get_attribute("#image", "src") is None  # no broken-image icon
            message = page.inner_text("#message")
            assert "“notes.jpg” is not an image this page can read" in message
            assert "JPEG, PNG, WebP, BMP or TIFF photo of up to 2 MB and 50 megapixels" in message
            page.set_input_files("#file", str(good))  # a readable image enables Colorize again
            page.wait_for_selector("body[data-state=preview]")
            assert page.is_enabled("#submit") and page.is_hidden("#message") and page.is_visible("#figure")
        finally:
            browser.close()


def test_the_page_shows_the_servers_message_for_an_image_it_refuses(server, tmp_path):
    from playwright.sync_api import sync_playwright

    tiny = tmp_path / "tiny.png"  # the browser can show it; the server refuses it (shorter side under 8 px)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tiny)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(server)
            page.set_input_files("#file", str(tiny))
            page.wait_for_selector("body[data-state=preview]")
            page.click("#submit")
            page.wait_for_selector("body[data-state=error]", timeout=60_000)
            assert "too small: 4x4" in page.inner_text("#message")
        finally:
            browser.close()


def test_many_uploads_in_flight_are_answered_200_or_503_never_500(tmp_path):
    """Issue 24's probe at test size: 30 uploads released at one instant to a real `colorgan serve` process (a tiny
    untrained model in a shipped folder, served through --model FOLDER). The full 100 is `python -m
    colorgan.bench.serve_probe` (figures in docs/serving.md)."""
    from colorgan.base import config
    from colorgan.bench.serve_probe import ok
    from colorgan.bench.serve_probe import run as probe
    from colorgan.model import networks
    from colorgan.serving import model_folder

    cfg = config.Config(image_size=32, power_iterations=1)
    folder = model_folder.write(tmp_path / "tiny-32", networks.build(cfg)[0], cfg, "# card\n", {})
    env = {**os.environ, "COLORGAN_HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    got = probe(str(folder), 30, env=env)
    print(f"30 uploads at once: {dict(got['statuses'])} in {got['seconds']:.1f} s; resident memory idle "
          f"{got['idle'] / GB:.2f} GB, peak {got['peak'] / GB:.2f} GB, after {got['after'] / GB:.2f} GB")
    assert ok(got) and got["statuses"]["200"] > 0, got["statuses"]
    assert got["peak"] - got["idle"] < MEMORY_CEILING
