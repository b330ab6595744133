"""Browser end-to-end fixtures: a real `tunix-rt serve` subprocess and headless Chromium.

Chromium is Debian's (/usr/bin/chromium, `make chromium`), driven by Python Playwright with
`executable_path`: Playwright's own browser downloads are not used. The UI must be built
(`make web`). Outside CI a missing browser or UI skips these tests; in CI it fails them.

Runs use the real training program (`python -m tunix_rt.training`, tiny preset). Where the
training stack is not installed, or with TUNIX_RT_E2E_TRAINER=fake, the worker runs
tests/e2e/fake_train.py instead (same contract, no JAX) so the UI flow is still covered.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tunix_rt.training import environment

REPO_ROOT = Path(__file__).resolve().parents[2]
DIST_INDEX = REPO_ROOT / "src" / "tunix_rt" / "web" / "dist" / "index.html"
SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_READY_TIMEOUT_S = 60.0
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
FAKE_TRAIN = Path(__file__).with_name("fake_train.py")


def trainer_env() -> dict[str, str]:
    """Worker settings for the training child: the real program unless it cannot run here."""
    choice = os.environ.get("TUNIX_RT_E2E_TRAINER", "auto")
    if choice == "real" or (choice == "auto" and not environment.missing_modules()):
        return {}
    return {"TUNIX_RT_WORKER_COMMAND": json.dumps([sys.executable, str(FAKE_TRAIN)])}


def require(condition: bool, message: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running `tunix-rt serve`; `stop()` is idempotent."""

    home: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_server(home: Path, extra_env: dict[str, str] | None = None) -> Server:
    require(DIST_INDEX.is_file(), f"the web UI is not built ({DIST_INDEX}): run `make web`")
    tunix_rt = Path(sys.executable).parent / "tunix-rt"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNIX_RT_")}
    env.update({"TUNIX_RT_HOME": str(home), **trainer_env(), **(extra_env or {})})
    log_path = home / "serve.log"
    home.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(tunix_rt), "serve", "--port", str(port), "--workers", "1"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(home=home, port=port, process=process, log_path=log_path, env=env)
    deadline = time.monotonic() + SERVER_READY_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"tunix-rt serve exited {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/api/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"tunix-rt serve did not answer in time:\n{server.log_tail()}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("e2e-home"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing: run `make chromium`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def save_screenshot(page: Page, name: str) -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
