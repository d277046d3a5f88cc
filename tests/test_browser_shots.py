"""Every page screenshotted at the two classroom screen sizes, after a run, and in presentation mode, so a
person can look at them (artifacts/shots/); plus what must hold on every one: no exception, the settings
on the charts, no legend cut off, a favicon served by the app itself."""
from __future__ import annotations

import pytest
from test_browser import SMALL, main_button, open_page

from conftest import ARTIFACTS, wait_idle

pytestmark = pytest.mark.browser

SIZES = ((1280, 720), (1920, 1080))
PAGES = (("train", ""), ("compare", "compare"), ("learn", "learn"), ("data", "data"))


def _shot(page, name: str, screens: int = 8) -> None:
    """One picture per screenful: Streamlit scrolls its main area inside the page, so a full-page shot would
    show only the first screen."""
    folder = ARTIFACTS / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    main = page.locator("[data-testid='stMain']")
    top = -1
    for i in range(screens):
        main.evaluate(f"el => el.scrollTo(0, {i} * el.clientHeight * 0.9)")
        page.wait_for_timeout(300)
        now = main.evaluate("el => el.scrollTop")
        if now == top:
            break
        top = now
        page.screenshot(path=str(folder / f"{name}-{i}.png"))
    main.evaluate("el => el.scrollTo(0, 0)")


@pytest.mark.parametrize("width, height", SIZES)
def test_every_page_at_classroom_sizes(app_url, page, width, height):
    page.set_viewport_size({"width": width, "height": height})
    open_page(page, f"{app_url}/?{SMALL}")
    main_button(page, "Train").click()
    page.wait_for_selector("text=Done:", timeout=120_000)
    wait_idle(page)
    page.wait_for_timeout(1500)  # Vega draws after the script is idle
    subtitles = page.locator("[data-testid='stVegaLiteChart'] svg text, [data-testid='stVegaLiteChart'] canvas")
    assert subtitles.count() >= 8
    for name, path in PAGES:
        if path:
            open_page(page, f"{app_url}/{path}?{SMALL}")
            page.wait_for_timeout(1500)
        assert page.locator("[data-testid='stException']").count() == 0, name
        _shot(page, f"{name}-{width}x{height}")
    icon = page.locator("link[rel~='icon']").first.get_attribute("href") or ""
    assert not icon.startswith("http") or icon.startswith(app_url), icon  # never a CDN: works offline


def test_presentation_mode_after_a_run(app_url, page):
    page.set_viewport_size({"width": 1280, "height": 720})
    open_page(page, f"{app_url}/?{SMALL}&present=1")
    main_button(page, "Train").click()
    page.wait_for_selector("text=Done:", timeout=120_000)
    wait_idle(page)
    page.wait_for_timeout(1500)
    _shot(page, "train-present-1280x720")
    open_page(page, f"{app_url}/learn?{SMALL}&present=1&truncation=10")
    page.wait_for_timeout(1500)
    _shot(page, "learn-present-n10-1280x720")
