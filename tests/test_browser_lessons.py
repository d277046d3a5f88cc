"""Issue 13 in a real browser (Debian's Chromium via Playwright, against `streamlit run app.py`): hidden
controls, a note that tries HTML, lesson progress in the URL, Step, and picking a step on the loss chart.
Screenshots of the Lessons page and of a stepped Train page land in artifacts/."""
from __future__ import annotations

import re
import urllib.parse

import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, main_button, open_page, shot, wait_idle

pytestmark = pytest.mark.browser

SMALL = "series_length=20000"  # 20 training steps of the default shapes


def query(page) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(page.url).query))


def test_hide_folds_away_exactly_the_named_controls(app_url, page):
    open_page(page, f"{app_url}/?hide=state_size,truncation,bogus&truncation=10")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Initial weight scale")).to_have_count(1, timeout=60_000)  # the settings are drawn
    assert sidebar.locator("[data-testid='stSlider']").count() == 0  # d and n are the sidebar's two sliders
    assert "bogus" in " ".join(page.locator("[data-testid='stAlert']").all_inner_texts())
    assert query(page)["truncation"] == "10" and query(page)["hide"] == "state_size,truncation"
    open_page(page, f"{app_url}/?hide=all")
    expect(sidebar.get_by_text("hides the settings")).to_have_count(1, timeout=60_000)
    assert sidebar.get_by_text("Initial weight scale").count() == 0


def test_a_note_that_tries_html_is_shown_as_text(app_url, page):
    note = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> **bold** [a](javascript:x)'
    open_page(page, f"{app_url}/?note={urllib.parse.quote(note)}")
    main = page.get_by_test_id("stMainBlockContainer")
    assert main.get_by_text("Note from your teacher").count() == 1
    assert note in main.inner_text()  # every character shown as typed
    assert page.evaluate("() => window.__pwned") is None
    shown = main.locator("[data-testid='stText']").filter(has_text="**bold**")
    assert shown.count() == 1 and shown.inner_text().strip() == note
    assert shown.locator("img, script, strong, a").count() == 0
    assert main.locator("img[src='x'], a[href^='javascript']").count() == 0
    shot(page, "lesson-note")


def test_lesson_progress_is_in_the_url(app_url, page):
    open_page(page, f"{app_url}/lessons?lesson=r2rt&step=3")
    expect(page.locator("h2").filter(has_text="3. Truncation at n")).to_have_count(1, timeout=30_000)
    expect(main_button(page, "Apply these settings and train")).to_be_disabled(timeout=30_000)  # predict first
    main_button(page, "Next step").click()
    page.wait_for_function("() => /step=4/.test(location.search)", timeout=60_000)
    wait_idle(page)
    expect(page.locator("h2").filter(has_text="4. R2RT's three regimes")).to_have_count(1, timeout=30_000)
    open_page(page, f"{app_url}/lessons?lesson=r2rt&step=6")
    page.get_by_text("About in proportion to n").click()
    wait_idle(page)
    main_button(page, "Time training steps for n = 5, 10, 20, 40").click()
    page.wait_for_selector("text=What happened", timeout=120_000)
    wait_idle(page)
    expect(page.locator("[data-testid='stAlert']").filter(has_text="n = 40:").first).to_be_visible(timeout=30_000)
    shot(page, "lessons")
    open_page(page, f"{app_url}/lessons?lesson=nope&step=x")
    alerts = " ".join(page.locator("[data-testid='stAlert']").all_inner_texts())
    assert "lesson=nope" in alerts and "step=x" in alerts
    assert query(page)["step"] == "1"


def test_step_trains_one_window_at_a_time_and_a_pick_on_the_loss_chart_shows_that_step(app_url, page):
    open_page(page, f"{app_url}/?{SMALL}")
    main_button(page, "Step").click()
    page.wait_for_selector("text=Step 0: one window, slowed down", timeout=120_000)
    wait_idle(page)
    first_carried = re.search(r"State carried to the next window, S_4 \(row 0\): (\[[^\]]*\])",
                              page.get_by_test_id("stMainBlockContainer").inner_text()).group(1)
    main_button(page, "Step").click()
    page.wait_for_selector("text=Step 1: one window, slowed down", timeout=120_000)
    wait_idle(page)
    text = page.get_by_test_id("stMainBlockContainer").inner_text()
    assert re.search(r"First state S₋₁ \(carried in, row 0\): (\[[^\]]*\])", text).group(1) == first_carried
    assert page.locator("[data-testid='stGraphVizChart'] svg").count() >= 1
    assert "x = " in page.locator("[data-testid='stGraphVizChart'] svg").first.text_content()
    page.get_by_text("Step 1: one window, slowed down").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "browser-train-stepped.png"))
    main_button(page, "Continue").click()
    page.wait_for_selector("text=Done: 20 steps", timeout=120_000)
    wait_idle(page)
    chart = page.locator("[data-testid='stVegaLiteChart']").first
    chart.locator("canvas, svg").first.wait_for(timeout=60_000)  # drawn, so the click lands on its plot
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.55)
    page.wait_for_selector("text=Picked on the loss chart", timeout=60_000)
    wait_idle(page)
    assert page.get_by_text(re.compile(r"Trained loss at step \d+: [0-9.]+ nats")).count() == 1
    page.get_by_text("Picked on the loss chart").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "browser-train-picked.png"))


def test_explain_lines_and_the_lesson_link_panel(app_url, page):
    open_page(page, f"{app_url}/?explain=1&truncation=10")
    # polled: on a cold server the page can still be redrawing its first chart when the script reports idle
    expect(page.get_by_text(re.compile("What am I looking at: the training loss"))).to_have_count(1, timeout=30_000)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Make a lesson link").click()
    # click the visible label once the expander has opened (a forced click on the hidden input can land
    # mid-animation and miss, which CI once saw), then wait for the box to show ticked
    label = sidebar.get_by_text("Hide every setting", exact=True)
    label.wait_for(state="visible")
    wait_idle(page)
    label.click()
    expect(sidebar.get_by_role("checkbox", name="Hide every setting")).to_be_checked(timeout=30_000)
    wait_idle(page)
    note = sidebar.get_by_role("textbox", name="Note for the students (plain text)")
    note.fill("Predict first!")
    note.press("Control+Enter")
    wait_idle(page)
    page.wait_for_function(  # the note's rerun, after the checkbox's (which already wrote hide=all)
        "() => /note=Predict/.test(document.querySelector(\"[data-testid='stSidebar']\").innerText)", timeout=30_000)
    code = sidebar.locator("[data-testid='stCode']").inner_text()
    assert "truncation=10" in code and "hide=all" in code and "note=Predict%20first%21" in code
    sidebar.get_by_text("Make a lesson link").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "browser-lesson-link-panel.png"))
