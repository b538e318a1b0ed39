"""The web console in a real headless Chromium, as one user's journey (the tests run in
order and build on each other): sign in, import a model by upload, publish it, add a second
version and split traffic 50/50, run a test prediction, read the monitoring charts, create a
batch job and watch it complete through the live status, optimize a version and read the
report, then read the history and the as-of view. Every page is
saved as a screenshot."""

from __future__ import annotations

from pathlib import Path

import httpx
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import ROWS, Console
from tests.browser.helpers import (
    button,
    choose,
    click,
    field,
    fill,
    shot,
    until,
    wait_for,
)
from tests.e2e.serving_helpers import V1, V2

SERVICE = """query($id: ID!) { service(id: $id) { status
  deployments { versionNumber trafficPercent } revisions { revision kind } } }"""


def _api(console: Console, query: str, **variables: object) -> dict[str, object]:
    response = httpx.post(
        f"{console.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {console.token}"},
    )
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, object] = body["data"]
    return data


def _path(browser: WebDriver) -> str:
    return "/" + browser.current_url.split("/", 3)[3]


def test_sign_in(console: Console, browser: WebDriver, artifacts: Path) -> None:
    browser.get(console.url)
    wait_for(browser, "h1", "modelrepo console")
    token = field(browser, "API token")
    assert browser.switch_to.active_element == token  # focus starts in the form
    token.send_keys("mr_not-a-token")
    click(browser, "Sign in")
    wait_for(browser, "[role=alert]", "not accepted")
    shot(browser, artifacts, "01-sign-in-refused")

    fill(browser, "API token", console.token)
    click(browser, "Sign in")
    wait_for(browser, "h1", "Models")
    wait_for(browser, ".who", "ada")
    wait_for(browser, ".empty", "No models match")
    assert _path(browser) == "/models"
    shot(browser, artifacts, "02-models-empty")


def test_import_a_model_by_upload(console: Console, browser: WebDriver, artifacts: Path) -> None:
    model_file = console.files / "linear.onnx"
    model_file.write_bytes(V1)
    click(browser, "Import model")
    wait_for(browser, "dialog h2", "Import a model")
    fill(browser, "Name", "linear")
    fill(browser, "Description", "y = x · w + b")
    fill(browser, "Tags", "team=vision, stage=dev")
    fill(browser, "Metrics", "rmse=0.12")
    field(browser, "Model file or package (.zip, .tar.gz)").send_keys(str(model_file))
    shot(browser, artifacts, "03-import-dialog")
    click(browser, "Import", "dialog")

    wait_for(browser, "h1", "linear")
    console.state["model_path"] = _path(browser)
    assert console.state["model_path"].startswith("/models/")
    row = wait_for(browser, "table.versions tbody tr", "V1")
    assert "ONNX" in row.text and "onnxruntime" in row.text and "rmse=0.12" in row.text
    wait_for(browser, "table.versions .badge-ready", "READY")
    wait_for(browser, ".tag", "team=vision")
    wait_for(browser, "[role=status]", "Imported linear V1")

    # the list shows it, and the tag filter finds it
    browser.find_element(By.LINK_TEXT, "Models").click()
    fill(browser, "Tags (key=value, comma separated)", "team=vision")
    click(browser, "Filter")
    wait_for(browser, "table.list td", "V1 · ONNX")
    fill(browser, "Tags (key=value, comma separated)", "team=audio")
    click(browser, "Filter")
    wait_for(browser, ".empty", "No models match")
    fill(browser, "Tags (key=value, comma separated)", "")
    click(browser, "Filter")
    wait_for(browser, "table.list a", "linear").click()

    # a second version, through the same dialog
    second = console.files / "linear-v2.onnx"
    second.write_bytes(V2)
    click(browser, "New version")
    wait_for(browser, "dialog h2", "New version of linear")
    field(browser, "Model file or package (.zip, .tar.gz)").send_keys(str(second))
    click(browser, "Import", "dialog")
    wait_for(browser, "table.versions tbody tr", "V2")
    button(browser, "Details").click()  # the newest version (V2) comes first
    wait_for(browser, "table.compact code", "linear-v2.onnx")
    shot(browser, artifacts, "04-model-detail")

    # a download goes to disk through a signed link (no token, nothing in page memory)
    downloads = console.files / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    browser.find_element(By.CSS_SELECTOR, "[aria-label='Download linear-v2.onnx']").click()
    saved = downloads / "linear-v2.onnx"
    until(
        browser,
        lambda _: saved.is_file() and saved.read_bytes() == V2,
        "the file is downloaded",
    )


def test_publish_it(console: Console, browser: WebDriver, artifacts: Path) -> None:
    browser.get(console.url + "/services")
    wait_for(browser, "h1", "Services")
    wait_for(browser, ".empty", "No services yet")
    click(browser, "Publish a service")
    wait_for(browser, "dialog h2", "Publish a service")
    choose(browser, "Model", "linear")
    choose(browser, "Version", "V1 · ONNX")
    click(browser, "Next")
    fill(browser, "Instances", "2")
    fill(browser, "Memory (MB)", "512")
    click(browser, "Next")
    wait_for(browser, "dialog legend", "Runtime")
    click(browser, "Next")
    fill(browser, "Service name", "linear-api")
    wait_for(browser, "dialog dd", "1 CPU, 512 MB")
    shot(browser, artifacts, "05-publish-wizard")
    click(browser, "Publish")
    key = wait_for(browser, "dialog pre.secret").text
    assert len(key) > 20
    click(browser, "Open the service")

    wait_for(browser, "h1", "linear-api")
    console.state["service_path"] = _path(browser)
    wait_for(browser, ".page-head .badge-running", "RUNNING")
    endpoint = wait_for(browser, "code.endpoint").text
    assert endpoint == f"{console.url}/v1/models/linear-api:predict"
    click(browser, "Reveal")
    until(
        browser,
        lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=access-key]").text == key,
        "the revealed key is the one shown at publishing",
    )
    wait_for(browser, "pre.curl", f'-H "Authorization: {key}"')
    # the curl call really works
    answer = httpx.post(
        endpoint, headers={"Authorization": key}, json={"instances": [[1, 1, 1, 1]]}
    )
    assert answer.json() == {"predictions": [[10.5]]}
    shot(browser, artifacts, "06-service-endpoint")


def test_traffic_50_50_across_two_versions(
    console: Console, browser: WebDriver, artifacts: Path
) -> None:
    browser.get(console.url + console.state["service_path"] + "?tab=revisions")
    wait_for(browser, "h2", "Upgrade")
    choose(browser, "Model", "linear")
    choose(browser, "Version", "V2 · ONNX")
    click(browser, "Upgrade")
    wait_for(browser, "table[aria-label=Revisions] td", "upgrade")
    shot(browser, artifacts, "07-upgrade-and-revisions")

    wait_for(browser, "[role=tab]", "Traffic").click()
    wait_for(browser, "input[type=range]")
    sliders = browser.find_elements(By.CSS_SELECTOR, "input[type=range]")
    assert len(sliders) == 2
    # an invalid split cannot be saved
    percent = field(browser, "linear V2")  # the slider's label
    percent.send_keys(Keys.END)  # the range to 100
    wait_for(browser, "[data-testid=traffic-total]", "Total: 200%")
    assert not button_enabled(browser, "Save traffic")
    click(browser, "Split evenly")
    wait_for(browser, "[data-testid=traffic-total]", "Total: 100%")
    values = [s.get_attribute("value") for s in browser.find_elements(By.CSS_SELECTOR, ".percent")]
    assert values == ["50", "50"]
    shot(browser, artifacts, "08-traffic")
    click(browser, "Save traffic")
    wait_for(browser, "[role=status]", "Traffic saved")
    wait_for(browser, "dl.facts .tag", "V2 · 50%")

    service_id = console.state["service_path"].rsplit("/", 1)[1]
    service = _api(console, SERVICE, id=service_id)["service"]
    assert isinstance(service, dict)
    split = sorted((d["versionNumber"], d["trafficPercent"]) for d in service["deployments"])
    assert split == [(1, 50), (2, 50)]


def button_enabled(browser: WebDriver, text: str) -> bool:
    for element in browser.find_elements(By.CSS_SELECTOR, "button"):
        if element.text.strip() == text:
            return bool(element.is_enabled())
    raise AssertionError(f"no button {text!r}")


def test_a_test_prediction(console: Console, browser: WebDriver, artifacts: Path) -> None:
    browser.get(console.url + console.state["service_path"] + "?tab=test")
    # a tabular model (x: [-1, 4]): JSON only, no image upload offered
    wait_for(browser, "ul[aria-label='Model inputs']", "x FP32 [-1, 4]")
    assert not browser.find_elements(By.CSS_SELECTOR, "input[name=test-mode]")
    assert "Image upload" not in browser.find_element(By.ID, "panel-test").text
    payload = field(browser, "Payload (v1: instances or inputs)")
    payload.send_keys(Keys.CONTROL, "a")
    payload.send_keys('{"instances": [[1, 1, 1, 1]]}')
    click(browser, "Run test")
    result = wait_for(browser, "[data-testid=test-result]", "HTTP 200")
    # V1 answers 10.5, V2 8.0: traffic is split between them
    assert "answered by V1" in result.text or "answered by V2" in result.text
    assert "10.5" in result.text or "8" in result.text
    shot(browser, artifacts, "09-test-prediction")

    payload.send_keys(Keys.CONTROL, "a")
    payload.send_keys('{"instances": [[1, 1]]}')
    click(browser, "Run test")
    wait_for(browser, "[data-testid=test-result]", "HTTP 400")


def test_a_batch_job_completes_through_the_live_status(
    console: Console, browser: WebDriver, artifacts: Path
) -> None:
    browser.get(console.url + "/jobs")
    wait_for(browser, ".empty", "No batch jobs yet")
    click(browser, "Create a batch job")
    fill(browser, "Job name", "nightly-scores")
    choose(browser, "Model", "linear")
    choose(browser, "Version", "V1 · ONNX")
    click(browser, "Next")
    fill(browser, "Input URI", f"s3://{console.bucket}/in/data.csv")
    fill(browser, "Output URI", f"s3://{console.bucket}/out")
    choose(browser, "Output format", "JSONL")
    fill(browser, "Id column (optional)", "id")
    click(browser, "Next")

    # the step editor: add three, edit, reorder and remove
    for _ in range(3):
        click(browser, "Add a step")
    choose(browser, "Step 1 kind", "Clip")
    choose(browser, "Step 2 kind", "Standard scale")
    choose(browser, "Step 3 kind", "Drop columns")
    fields = browser.find_elements(By.CSS_SELECTOR, ".step input")
    column, _lower, upper, scale_column, mean, std, drop = fields
    column.send_keys("x1")
    upper.send_keys("50")
    scale_column.send_keys("x1")
    mean.send_keys("0")
    std.send_keys("2")
    drop.send_keys("x9")
    browser.find_element(By.CSS_SELECTOR, "[aria-label='Move step 2 up']").click()
    wait_for(browser, "li.step[aria-label='Step 1: Standard scale']")
    shot(browser, artifacts, "10-job-steps")
    browser.find_element(By.CSS_SELECTOR, "[aria-label='Remove step 3']").click()
    until(
        browser,
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "li.step")) == 2,
        "two steps are left",
    )
    click(browser, "Next")
    choose(browser, "Schedule", "Once")
    click(browser, "Next")
    wait_for(browser, "dialog dd", "standard_scale → clip")
    click(browser, "Create job")

    cell = "[data-testid=job-status-nightly-scores]"
    wait_for(browser, cell)
    # nothing reloads the list: the row follows batchJobUpdates over the websocket
    wait_for(browser, cell, "COMPLETED", timeout=90)
    wait_for(browser, cell, f"{ROWS} rows")
    shot(browser, artifacts, "11-jobs-live")

    wait_for(browser, "table.list a", "nightly-scores").click()
    wait_for(browser, "h1", "nightly-scores")
    console.state["job_path"] = _path(browser)
    wait_for(browser, "[data-testid=run-status]", "COMPLETED")
    click(browser, "Run details")
    result = wait_for(browser, "[data-testid=run-result]")
    assert f'"rows": {ROWS}' in result.text
    shot(browser, artifacts, "12-job-run-details")


CREATE_JOB = """mutation($input: BatchJobInput!) { createBatchJob(input: $input) {
  __typename ... on Error { message } } }"""
VERSIONS = """query { model(name: "linear") { versions { nodes { id name } } } }"""
# Counts the websockets a page opens (installed before any script of the page runs).
COUNT_SOCKETS = """
window.__sockets = 0;
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) { super(...args); window.__sockets += 1; }
};
"""
MAX_LIVE = 8  # web/src/pages/jobs.jsx


def test_the_jobs_list_follows_on_one_connection_and_caps_live_rows(
    console: Console, browser: Chrome, artifacts: Path
) -> None:
    model = _api(console, VERSIONS)["model"]
    assert isinstance(model, dict)
    v1 = next(v["id"] for v in model["versions"]["nodes"] if v["name"] == "V1")
    for i in range(MAX_LIVE + 1):  # weekly jobs that start in 2099: no runs, all followable
        job = {
            "name": f"weekly-{i}",
            "versionId": v1,
            "inputUri": f"s3://{console.bucket}/in/data.csv",
            "inputFormat": "CSV",
            "outputUri": f"s3://{console.bucket}/weekly-{i}",
            "outputFormat": "JSONL",
            "schedule": {
                "kind": "PERIODIC",
                "expression": "0 3 * * 0",
                "start": "2099-01-01T00:00:00Z",
            },
        }
        created = _api(console, CREATE_JOB, input=job)["createBatchJob"]
        assert created == {"__typename": "BatchJobPayload"}, created
    script = browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": COUNT_SOCKETS}
    )
    try:
        browser.get(console.url + "/jobs")
        wait_for(browser, "p.muted", f"{MAX_LIVE} of {MAX_LIVE + 2} rows follow their status live")
        live = browser.find_elements(By.CSS_SELECTOR, "tr[data-live=yes]")
        assert len(live) == MAX_LIVE
        # the finished one-off job is left to the periodic re-read first
        stale = browser.find_elements(By.CSS_SELECTOR, "tr[data-live=no]")
        names = sorted(row.text.split()[0] for row in stale)
        assert len(names) == 2 and names[0] == "nightly-scores", names
        wait_for(browser, "[data-testid=job-status-nightly-scores]", "COMPLETED")
        until(browser, lambda d: d.execute_script("return window.__sockets") >= 1, "a socket")
        assert browser.execute_script("return window.__sockets") == 1  # all on one websocket
        shot(browser, artifacts, "12b-jobs-capped")
    finally:
        browser.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]}
        )


def test_monitoring_charts(console: Console, browser: WebDriver, artifacts: Path) -> None:
    browser.get(console.url + console.state["service_path"] + "?tab=monitoring")
    for title in ("Requests per step", "Latency p90 (ms)", "Errors (4xx + 5xx)"):
        wait_for(browser, "figure.chart figcaption", title)
    # deploys come from the event log at once: the publish and the upgrade are annotated
    annotations = wait_for(browser, "ul.annotations", "deploy")
    assert "upgrade" in annotations.text and "traffic" in annotations.text
    assert browser.find_elements(By.CSS_SELECTOR, "figure.chart svg line[stroke-dasharray]")
    shot(browser, artifacts, "13-monitoring")


def test_start_an_optimization_and_read_its_report(
    console: Console, browser: WebDriver, artifacts: Path
) -> None:
    browser.get(console.url + console.state["model_path"])
    wait_for(browser, "table.versions tbody tr", "V1")
    browser.find_elements(By.XPATH, "//button[normalize-space()='Details']")[-1].click()
    click(browser, "Optimize")
    wait_for(browser, "dialog h2", "Optimize linear V1")
    click(browser, "Start optimization")
    report = wait_for(browser, "dialog dl[aria-label='Optimization report']", timeout=120)
    assert "Latency p50" in report.text and "top-1 agreement" in report.text
    wait_for(browser, "dialog a", "linear-optimized V1")
    shot(browser, artifacts, "14-optimization-report")
    click(browser, "Close")
    browser.get(console.url + "/models?list=OPTIMIZED")
    wait_for(browser, "table.list a", "linear-optimized")


def test_history_and_as_of(console: Console, browser: WebDriver, artifacts: Path) -> None:
    browser.get(console.url + console.state["model_path"] + "?tab=history")
    table = wait_for(browser, "table.history")
    wait_for(browser, "table.history td", "ada")
    assert "Registered" in table.text and "VersionAllocated" in table.text
    shot(browser, artifacts, "15-model-history")

    # the moment of the first event: V1 only, V2 did not exist yet
    button(browser, "View as of this").click()
    asof = wait_for(browser, "article.asof", "linear")
    wait_for(browser, "article.asof td", "V1")
    assert "V2" not in asof.text
    assert "IMPORTING" in asof.text  # its files were still arriving at that moment
    assert "team=vision" in asof.text
    shot(browser, artifacts, "16-model-as-of")

    # a version's own history
    browser.get(console.url + console.state["model_path"] + "?tab=history")
    choose(browser, "History of", "version V2")
    wait_for(browser, "table[aria-label='History of version V2'] td", "ada")

    browser.get(console.url + console.state["service_path"] + "?tab=history")
    wait_for(browser, "table.history td", "ada")
    shot(browser, artifacts, "17-service-history")
    text = wait_for(browser, "table.history").text
    assert "Published" in text, text

    # the service as of its publishing: one version with all traffic, one revision
    button(browser, "View as of this").click()
    asof = wait_for(browser, "article.asof", "linear-api")
    deployed = wait_for(browser, "table[aria-label='Deployments as of then']", "linear V1")
    assert "100%" in deployed.text and "V2" not in deployed.text
    revisions = wait_for(browser, "ol[aria-label='Revisions as of then']", "publish by ada")
    assert "upgrade" not in revisions.text
    assert "Revision 1" in asof.text and "DEPLOYING" in asof.text
    shot(browser, artifacts, "18-service-as-of")
    # and now (the picker starts at the present): 50/50 after the upgrade and the traffic change
    browser.get(console.url + console.state["service_path"] + "?tab=asof")
    click(browser, "Show")
    wait_for(browser, "article.asof", "Revision 3")
    deployed = wait_for(browser, "table[aria-label='Deployments as of then']", "linear V2")
    assert deployed.text.count("50%") == 2, deployed.text

    # the job as of its creation: no runs yet
    browser.get(console.url + console.state["job_path"] + "?tab=history")
    wait_for(browser, "table.history td", "Created")
    button(browser, "View as of this").click()
    job = wait_for(browser, "article.asof", "nightly-scores")
    assert "ACTIVE" in job.text and "standard_scale → clip" in job.text
    wait_for(browser, "article.asof p", "No runs yet then")
    shot(browser, artifacts, "19-job-as-of")
