"""The status page in a real browser: Debian's chromium, headless, driven by Playwright (its
client only: no browser of Playwright's own). The page is loaded while the primary fails on
purpose; a screenshot is kept in ``$RESOLVER_ARTIFACTS_DIR`` (default ``artifacts/``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import BACKUP, PRIMARY
from gateway_support import gateway_for, sdk, serving

from resolver.testing import make_resolver

CHROMIUM = Path("/usr/bin/chromium")
CLIENT_KEY = "gw-browser-key-40d9e2b7"
MESSAGES = [{"role": "user", "content": "Is the status page honest?"}]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_the_page_shows_the_failing_model_out_and_its_fallbacks_without_errors(chat_server, keys):
    """Opened with the client key while the primary fails, the page turns the primary's node
    "out", lists the fallbacks to the backup as they happen, shows the backup's budget spent,
    and raises no console or page error (a CSP violation would be one)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    roomy = make_resolver(
        env="prod",
        overrides=[
            *chat_server.overrides(),
            f"++budgets={{backup-daily: {{model: {BACKUP}, amount: 5, window: day}}}}",
        ],
    )
    chat_server.set_fault(roomy.providers[PRIMARY].model, "server")
    gateway = gateway_for(roomy, keys, keys=(CLIENT_KEY.encode(),))
    problems: list[str] = []
    with serving(gateway) as url, sync_api.sync_playwright() as playwright:
        root = url.removesuffix("/v1")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = browser.new_context(
                http_credentials={"username": "operator", "password": CLIENT_KEY},
                viewport={"width": 1280, "height": 900},
            )
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(root + "/status")
            node = page.locator(f'svg g.node[data-model="{PRIMARY}"]')
            node.wait_for()
            assert node.get_attribute("data-status") == "in-rotation"

            client = sdk(url, CLIENT_KEY)
            threshold = roomy.policy.health.failure_threshold
            for _ in range(threshold + 1):
                client.chat.completions.create(model=PRIMARY, messages=MESSAGES)

            out = page.locator(f'svg g.node.out[data-model="{PRIMARY}"]')
            out.wait_for(timeout=10_000)
            rows = page.locator(f'#fallbacks tr.fallback[data-requested="{PRIMARY}"]')
            page.wait_for_function(
                f"document.querySelectorAll('#fallbacks tr.fallback').length >= {threshold + 1}",
                timeout=10_000,
            )
            listed = rows.count()
            served = {rows.nth(i).get_attribute("data-served") for i in range(listed)}
            label = out.locator("text.state").text_content() or ""
            reasons = rows.last.locator("td").nth(3).text_content() or ""
            budget = page.locator('#budgets tr.budget[data-budget="backup-daily"] td')
            page.wait_for_function(
                "!document.querySelector('#budgets-section').hidden", timeout=10_000
            )
            spent = budget.nth(4).text_content() or ""
            artifacts = Path(os.environ.get("RESOLVER_ARTIFACTS_DIR") or "artifacts")
            artifacts.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(artifacts / "status-page.png"), full_page=True)
        finally:
            browser.close()

    assert listed == threshold + 1
    assert served == {BACKUP}
    assert label.startswith("out ")
    assert f"{PRIMARY}: server 500" in reasons
    assert spent.startswith("$")
    assert float(spent[1:]) > 0
    assert problems == []
