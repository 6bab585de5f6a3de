"""``mfr demo``, as a person meets it: run it, follow the printed address, watch it replicate."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.archive.test_ui import ARTIFACTS, CHROMIUM_ARGS
from tests.kafka.broker import free_port


def _read_until(process: subprocess.Popen[str], pattern: str, timeout_s: float) -> str:
    """The demo's output up to the first line matching ``pattern``."""
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen += line
        if re.search(pattern, line):
            return seen
    raise AssertionError(f"the demo never said {pattern!r}; it said:\n{seen}")


def _replicated(client: httpx.Client, base: str, mailbox: str) -> tuple[object, ...]:
    """What the browse API says was replicated for the mailbox: counts and the newest change."""
    listed = client.get(f"{base}/api/v1/mailboxes").json()
    entry = next(m for m in listed if m["address"] == mailbox)
    return (entry["messages"], entry["deleted_messages"], entry["last_change_time"])


@pytest.mark.parametrize("api", ["ews", "graph"])
def test_the_demo_replicates_live_and_a_person_can_browse_it(tmp_path: Path, api: str) -> None:
    """The printed address and password open the user's mailbox, which keeps changing live:
    through EWS, and (``--api graph``) as Exchange Online through Microsoft Graph."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
    command = [sys.executable, "-c", "from mfr.cli import main; main()", "demo",
               "--mailboxes", "2", "--messages", "60", "--rate", "4", "--port", str(free_port()),
               "--api", api]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        said = _read_until(process, r"Press Ctrl-C", timeout_s=240)
        url = re.search(r"The archive is at (\S+?)/?\n", said)
        login = re.search(r"sign in as (\S+) with password (\S+)", said.replace("\n", " "))
        assert url, said
        assert login, said
        base, user, password = url.group(1), login.group(1), login.group(2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                 args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{base}/login")
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", password)
            page.click("#sign-in")
            page.wait_for_selector("#folders >> text=Inbox")  # the tree, not the search scope
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"demo-{api}.png"))
            browser.close()
        with httpx.Client() as client:
            client.post(f"{base}/api/v1/session", json={"username": user, "password": password})
            before = _replicated(client, base, user)
            deadline = time.monotonic() + 60
            while _replicated(client, base, user) == before:
                assert time.monotonic() < deadline, "nothing replicated live in a minute"
                time.sleep(1)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
