"""axe-core (Deque's accessibility engine, from npm: tests/a11y, installed by ``scripts/dev
setup``) run inside a page the browser tests have open."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

AXE = Path(__file__).resolve().parents[1] / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


@cache
def _source() -> str:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run scripts/dev setup (npm ci in tests/a11y)")
    return AXE.read_text(encoding="utf-8")


def install(context: BrowserContext) -> None:
    """Have axe in every page the context opens (parsed as the page starts: cheaper than
    evaluating it into each page afterwards)."""
    context.add_init_script(_source())


def blocking_violations(page: Page) -> list[str]:
    """Each serious or critical axe violation on the page, with the elements it was found on.
    Evaluated through the DevTools protocol, which the page's Content-Security-Policy does
    not govern, so the page is checked as it is served."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_source())
    found: list[dict[str, object]] = page.evaluate(
        """async (blocking) => {
            const result = await axe.run(document, { resultTypes: ["violations"] });
            return result.violations
                .filter((v) => blocking.includes(v.impact))
                .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                               where: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
                               why: (v.nodes[0].failureSummary || "").slice(0, 300) }));
        }""",
        list(BLOCKING),
    )
    return [f"{v['impact']} {v['id']} ({v['help']}): {v['where']}; {v['why']}" for v in found]


def assert_accessible(page: Page) -> None:
    """Fail, listing them all, if axe finds a serious or critical violation on the page."""
    found = blocking_violations(page)
    assert not found, f"{page.url}:\n" + "\n".join(found)
