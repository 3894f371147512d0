"""The web app's API on a real uvicorn server around a trained model: good and bad input, the file names of its
answers, parallel requests. Its limits (upload size, slow clients, memory) are test_serve_limits.py; the page in a
browser is test_serve_page.py; the server is conftest.py's ``server`` fixture."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

import numpy as np
import pytest
import requests
from conftest import huge_png_header, photo
from PIL import Image
from serve_helpers import encode, lightness, post

from colorgan.serving.app import content_disposition

pytestmark = pytest.mark.slow


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
