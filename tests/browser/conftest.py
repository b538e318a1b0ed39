"""A real `modelrepo serve` (SQLite, model files on local disk, batch data on the moto S3
server) and a real headless Chromium driven through chromium-driver. Screenshots of every
page go to $MODELREPO_ARTIFACTS (default tests/browser/artifacts)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from tests.conftest import run_sync
from tests.e2e.servers import cli, running_servers
from tests.integration.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server

CONSOLE = Path(__file__).resolve().parents[2] / "web" / "dist" / "index.html"
BUCKET = "console-data"
ROWS = 100


def _need(ok: bool, what: str) -> None:
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (make test installs and builds it)", pytrace=False)
    pytest.skip(f"{what}: run `make test` (or scripts/ensure-browser.sh and `make console`)")


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or ""
    driver = shutil.which("chromedriver") or ""
    _need(bool(browser and driver), "Debian's chromium and chromium-driver are not installed")
    _need(CONSOLE.is_file(), f"the console is not built ({CONSOLE} is missing)")
    return browser, driver


@pytest.fixture(scope="session")
def artifacts() -> Path:
    default = Path(__file__).resolve().parent / "artifacts"
    path = Path(os.environ.get("MODELREPO_ARTIFACTS", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Console:
    url: str
    token: str
    bucket: str
    files: Path
    # What earlier steps of the journey made, for the later ones.
    state: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Iterator[Console]:
    _chromium()
    root = tmp_path_factory.mktemp("console")
    env = {
        **os.environ,
        "MODELREPO_DATA_DIR": str(root / "data"),
        "MODELREPO_BOOTSTRAP_ADMIN_TOKEN": "false",
        "MODELREPO_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "MODELREPO_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "MODELREPO_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "MODELREPO_S3_REGION": REGION,
    }
    token = cli(env, "token", "create", "--role", "admin", "--name", "ada").stdout.strip()
    rows = "id,x1,x2,x3,x4\n" + "".join(f"r{i},{i},1,1,1\n" for i in range(ROWS))

    async def arrange() -> None:
        async with s3_server.client() as client:
            await client.create_bucket(Bucket=BUCKET)
            await client.put_object(Bucket=BUCKET, Key="in/data.csv", Body=rows.encode())

    run_sync(arrange())
    try:
        with running_servers(env, 1, root) as (url,):
            yield Console(url=url, token=token, bucket=BUCKET, files=root)
    finally:
        run_sync(s3_server.reset())


@pytest.fixture(scope="module")
def browser(console: Console) -> Iterator[webdriver.Chrome]:
    binary, driver_path = _chromium()
    options = Options()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # we run as root
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--disable-gpu",
        "--no-first-run",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed step leaves a screenshot of the page it failed on."""
    report = yield
    funcargs = getattr(item, "funcargs", {})
    if report.failed and call.when == "call" and "browser" in funcargs:
        folder = funcargs["artifacts"] if "artifacts" in funcargs else Path(".")
        funcargs["browser"].save_screenshot(str(folder / f"FAILED-{item.name}.png"))
    return report
