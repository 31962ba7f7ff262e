"""The web UI in headless Chromium (Debian's, driven by Playwright): chat streams into the page."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

QUESTION = "What is the capital of France? Answer in one sentence."
# counts how often the answer's text changes while it streams
WATCH = """() => {
  window.__updates = 0;
  new MutationObserver(() => { window.__updates += 1; })
    .observe(document.getElementById("messages"), {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (/usr/bin/chromium): run scripts/setup.sh as root, "
                    "or apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def test_chat_streams_in_the_browser(server, browser, artifacts_dir):
    page = browser.new_page(viewport={"width": 1200, "height": 760})
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(server.url) else None)
    page.goto(server.url + "/")
    page.wait_for_selector("#status.ok", timeout=30_000)
    assert page.input_value("#model") == "default"
    assert "profile:" in page.inner_text("#profile")
    page.wait_for_selector("#apps-nav a.nav-item")
    assert "Health dashboard" in page.inner_text("#apps-nav")
    page.click(".settings summary")  # the sampling settings are folded away by default
    page.fill("#temperature", "0")
    page.fill("#max-tokens", "40")
    page.evaluate(WATCH)
    page.fill("#prompt", QUESTION)
    page.press("#prompt", "Enter")
    page.wait_for_selector(".msg.assistant[data-done='1']", timeout=120_000)
    answer = page.text_content(".msg.assistant .text")
    assert "Paris" in answer
    with server.client() as c:  # greedy: the page shows exactly what the API answers
        api = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}],
                                                   "temperature": 0, "max_tokens": 40}).json()
    assert answer == api["choices"][0]["message"]["content"]
    assert page.evaluate("window.__updates") > 3  # the text arrived in pieces, not at once
    assert "tokens" in page.inner_text(".msg.assistant .stats")
    assert page.query_selector(".msg.error") is None
    assert not page.is_visible("#token-bar")  # this server has no token
    page.screenshot(path=str(artifacts_dir / "webui.png"))
    assert external == []  # no CDN, no network beyond this server
    page.close()


def test_absent_app_page_says_not_installed(start_server, browser, artifacts_dir):
    live = start_server(apps={"ghost": "edgesplit_no_such_app.server"})
    page = browser.new_page()
    page.goto(live.url + "/apps/ghost/")
    assert "not installed" in page.inner_text("#placeholder")
    page.wait_for_selector("#apps-nav a.nav-item")
    assert "Chat" in page.inner_text("nav")
    page.close()

