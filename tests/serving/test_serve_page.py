"""The web app's page (serving.app, serving/static/) end to end in Debian's headless chromium (driven by Playwright;
no browser is downloaded), against a real uvicorn server around a trained model (conftest.py's ``server``
fixture)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import requests
from conftest import photo
from PIL import Image

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


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
