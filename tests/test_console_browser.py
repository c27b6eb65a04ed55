"""The web console in real headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

A wall display (1920×1080, a commander's token) and an inspector's phone
(390×844) against a real ``parkwatch api``: an alert event published to Kafka,
or one the real pipeline raises from a spike injected at the simulator,
appears on the wall within seconds; the inspector opens it on the phone, sees
why it fired, acknowledges it with a comment, and the wall shows the new state
without a reload. Screenshots of both pages go to the test's tmp dir.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from cloud_api.accounts import AccountStore
from cloud_api.db import Database
from parkwatch.demo import DEMO_GATEWAYS
from parkwatch.park import LocalPark
from parkwatch.settings import Settings
from parkwatch.wire.events import KAFKA_GATEWAY_EVENTS, GatewayEvent
from stream_processor.kafka_topics import ensure_topics
from tests.test_api_stream import (
    ApiServer,
    User,
    make_alert,
    produce,
    reading_line,
    start_api,
    stop_api,
    write_readings,
)
from tests.test_e2e_pipeline import _on_free_ports

pytestmark = pytest.mark.services

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SITE = f"b{uuid.uuid4().hex[:8]}"


def _browser(mobile: bool) -> WebDriver:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("headless Chromium is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    if mobile:
        options.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2}}
        )
    else:
        options.add_argument("--window-size=1920,1080")
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def _wait(driver: WebDriver, css: str, timeout_s: float = 10.0, what: str = "") -> WebElement:
    def found(d: WebDriver) -> Any:
        elements = d.find_elements(By.CSS_SELECTOR, css)
        return elements[0] if elements else False

    try:
        element: WebElement = WebDriverWait(driver, timeout_s, poll_frequency=0.1).until(found)
    except WebDriverException as exc:
        logs = "\n".join(str(e) for e in driver.get_log("browser"))
        raise AssertionError(f"{what or css}: not shown within {timeout_s} s; browser log:\n{logs}") from exc
    return element


def _read(driver: WebDriver, css: str, read: Callable[[WebElement], Any], timeout_s: float, what: str) -> Any:
    """``read(element)`` of the first match, retried while the page re-renders it (the feed and the
    lists are rebuilt on every change, so an element found a moment ago may be gone)."""

    def attempt(d: WebDriver) -> Any:
        try:
            elements = d.find_elements(By.CSS_SELECTOR, css)
            return read(elements[0]) if elements else False
        except StaleElementReferenceException:
            return False

    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=0.1).until(attempt)
    except WebDriverException as exc:
        raise AssertionError(f"{what}: not shown within {timeout_s} s") from exc


def _click(driver: WebDriver, css: str, timeout_s: float, what: str) -> None:
    _read(driver, css, lambda e: e.click() or True, timeout_s, what)


@pytest.fixture(scope="module")
def api(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    users = [User("cora", "commander"), User("ines", "inspector", (SITE,))]
    server = start_api(stack, tmp_path_factory.mktemp("console-api"), users)
    try:
        yield server
    finally:
        stop_api(server)


@pytest.fixture
def browsers() -> Iterator[Callable[[bool], WebDriver]]:
    started: list[WebDriver] = []

    def start(mobile: bool) -> WebDriver:
        driver = _browser(mobile)
        started.append(driver)
        return driver

    try:
        yield start
    finally:
        for driver in started:
            driver.quit()


def test_wall_shows_an_alert_live_and_the_inspectors_acknowledgement(
    stack: Settings, api: ApiServer, browsers: Callable[[bool], WebDriver], tmp_path: Path
) -> None:
    wall = browsers(False)
    wall.get(f"{api.url}/console/wall#token={api.tokens['cora']}")
    _wait(wall, "#conn[data-status=live]", 15, "the wall's stream connected")

    phone = browsers(True)
    phone.get(f"{api.url}/console/inspector")
    _wait(phone, "body[data-view=login]", 10, "the login form")
    phone.find_element(By.ID, "token").send_keys(api.tokens["ines"])
    phone.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    _wait(phone, "body[data-view=list] #conn.conn-live", 15, "the inspector's list, live")

    alert = make_alert(SITE, severity="critical")
    published = time.monotonic()
    asyncio.run(produce(stack, alert))
    state, text = _read(
        wall,
        f"#feed li[data-alert-id='{alert.id}']",
        lambda e: (e.get_attribute("data-state"), e.text),
        10,
        "the alert on the wall",
    )
    shown_after_s = time.monotonic() - published
    assert shown_after_s < 5.0, f"the wall took {shown_after_s:.1f} s"
    assert state == "open"
    assert SITE in text and "critical" in text
    _wait(wall, f".site.has-alert[data-site='{SITE}']", 5, "the site tile in alarm")
    assert wall.find_element(By.CSS_SELECTOR, "#count-critical .n").text != "0"
    time.sleep(1.2)  # let the new row's flash settle before the screenshot
    wall.save_screenshot(str(tmp_path / "wall-open.png"))

    # The inspector's phone: the alert arrives in the list by itself; open it, see why, acknowledge.
    _click(phone, f".alert-item[data-alert-id='{alert.id}']", 10, "the alert on the phone")
    _wait(phone, "#detail-state[data-state=open]", 10, "the alert's detail")
    why = _read(phone, "#detail-card .why", lambda e: e.text, 5, "the explanation")
    assert "87.1" in why and "10.2" in why and "14.9" in why, why
    _wait(phone, "#detail-plot svg", 10, "the trend")
    phone.find_element(By.ID, "comment").send_keys("gas detector checked, ventilating")
    phone.save_screenshot(str(tmp_path / "inspector-detail.png"))
    phone.find_element(By.ID, "do-acknowledge").click()
    _wait(phone, "#detail-state[data-state=acknowledged]", 10, "the acknowledged state on the phone")
    assert "gas detector checked" in phone.find_element(By.ID, "detail-log").text

    _wait(
        wall,
        f"#feed li[data-alert-id='{alert.id}'][data-state=acknowledged]",
        10,
        "the new state on the wall",
    )
    wall.save_screenshot(str(tmp_path / "wall-acknowledged.png"))

    # UI text switches to Chinese and back.
    wall.find_element(By.ID, "lang").click()
    assert wall.find_element(By.CSS_SELECTOR, "header h1").text == "园区指挥中心"
    assert "已确认" in _read(wall, f"#feed li[data-alert-id='{alert.id}']", lambda e: e.text, 5, "the row")
    wall.save_screenshot(str(tmp_path / "wall-zh.png"))
    wall.find_element(By.ID, "lang").click()
    assert wall.find_element(By.CSS_SELECTOR, "header h1").text == "Park command centre"
    phone.find_element(By.ID, "back").click()
    _wait(phone, f".alert-item[data-alert-id='{alert.id}'][data-state=acknowledged]", 10, "the list updated")
    phone.save_screenshot(str(tmp_path / "inspector-list.png"))
    # The phone's first /api/v1/me without a token is a 401 by design: that is how it knows to ask for one.
    errors = [
        e
        for e in wall.get_log("browser") + phone.get_log("browser")
        if e.get("level") == "SEVERE" and not ("/api/v1/me" in e["message"] and "401" in e["message"])
    ]
    assert not errors, errors


def test_the_wall_groups_a_flood_marks_escalations_and_shows_live_values(
    stack: Settings, api: ApiServer, browsers: Callable[[bool], WebDriver], tmp_path: Path
) -> None:
    point = f"{SITE}/gw-01/gas-01/ch4"
    write_readings(stack, reading_line(SITE, "gas-01", "ch4", 11.0, int(time.time() * 1000)))
    wall = browsers(False)
    wall.get(f"{api.url}/console/wall#token={api.tokens['cora']}")
    _wait(wall, "#conn[data-status=live]", 15, "the wall's stream connected")

    escalated = make_alert(SITE, escalation=2)  # on gas-01/ch4: the point joins the sparklines
    flood = make_alert(SITE, device="", point="", kind="flood", rule="flood", message="flood: 3 alerts")
    members = [make_alert(SITE, device=f"pt-0{i}", point="pressure", group=flood.id) for i in range(3)]
    asyncio.run(produce(stack, escalated, flood, *members))
    badge = _read(
        wall,
        f"#feed li[data-alert-id='{escalated.id}'] .escalated",
        lambda e: e.text,
        10,
        "the escalated badge",
    )
    assert badge == "escalated ×2"
    _wait(wall, f"#feed li[data-alert-id='{flood.id}'] .members[data-members='3']", 10, "the flood's members")
    assert not wall.find_elements(By.CSS_SELECTOR, f"#feed li[data-alert-id='{members[0].id}']")
    assert len(wall.find_elements(By.CSS_SELECTOR, f"#feed li[data-alert-id='{flood.id}'] .member")) == 3

    # A new reading reaches the wall by the stream, without waiting for the registry's poll.
    _wait(wall, f".sparkbox[data-key='{point}']", 15, "the alerting point's sparkline")
    write_readings(stack, reading_line(SITE, "gas-01", "ch4", 61.25, int(time.time() * 1000)))
    shown = _read(
        wall,
        f".sparkbox[data-key='{point}'] .val",
        lambda e: e.text if e.text.startswith("61.3") else False,
        20,  # polled from InfluxDB every 2 s; once missed 10 s on a busy machine
        "the live value",
    )
    assert shown.startswith("61.3")
    wall.save_screenshot(str(tmp_path / "wall-flood.png"))
    wall.find_element(By.ID, "lang").click()
    assert _read(
        wall, f"#feed li[data-alert-id='{escalated.id}'] .escalated", lambda e: e.text, 5, "badge"
    ) == ("已升级 ×2")
    wall.find_element(By.ID, "lang").click()
    # The alarm rate of the last 10 minutes counts the members and the escalated alert (at least:
    # other tests' alerts share the API), not the flood incident. It is polled, and the API
    # shares the figures for a few seconds, so the page is reloaded until they include them
    # (reloaded: the page took the token out of its URL, so getting that URL again would only
    # change the fragment).
    deadline = time.monotonic() + 20
    while True:
        wall.refresh()
        rate = _read(wall, "#count-rate .n", lambda e: e.text if e.text.isdigit() else False, 10, "the rate")
        if int(rate) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert int(rate) >= 4 and "per 10 min" in (
        wall.find_element(By.ID, "count-rate").get_attribute("title") or ""
    )
    errors = [e for e in wall.get_log("browser") if e.get("level") == "SEVERE"]
    assert not errors, errors


def test_the_rules_page_lists_disables_and_shows_versions(
    stack: Settings, api: ApiServer, browsers: Callable[[bool], WebDriver], tmp_path: Path
) -> None:
    asyncio.run(ensure_topics(stack))
    rule_id = f"browser-{uuid.uuid4().hex[:8]}"
    body = {
        "id": rule_id,
        "name": "CH4 very high",
        "severity": "critical",
        "scope": {"site": SITE, "point": "ch4"},
        "condition": {"type": "limit", "high": 1000, "delay": "5s"},
    }
    created = httpx.post(f"{api.url}/api/v1/rules", json=body, headers=api.headers("cora"), timeout=15)
    assert created.status_code == 201, created.text
    page = browsers(False)
    page.get(f"{api.url}/console/rules#token={api.tokens['cora']}")
    row = f"#rules tr[data-rule-id='{rule_id}']"
    _wait(page, f"{row}[data-enabled=true][data-version='1']", 10, "the rule, enabled")
    assert "limit: high 1000" in _read(page, row, lambda e: e.text, 5, "the row")
    _click(page, f"{row} button.toggle", 5, "disable")
    _wait(page, f"{row}[data-enabled=false][data-version='2']", 10, "the rule, disabled as version 2")
    _click(page, row, 5, "the rule")
    _wait(page, "#versions tr[data-version='2']", 10, "its versions")
    assert len(page.find_elements(By.CSS_SELECTOR, "#versions tbody tr")) == 2
    page.save_screenshot(str(tmp_path / "rules.png"))
    assert (
        httpx.get(f"{api.url}/api/v1/rules/{rule_id}", headers=api.headers("ines"), timeout=5).json()[
            "enabled"
        ]
        is False
    )
    # An inspector (on a phone) reads the rules of the site but has no buttons.
    phone = browsers(True)
    phone.get(f"{api.url}/console/rules#token={api.tokens['ines']}")
    _wait(phone, f"{row}[data-enabled=false]", 10, "the rule for the inspector")
    assert not phone.find_elements(By.CSS_SELECTOR, f"{row} button")
    errors = [e for e in page.get_log("browser") + phone.get_log("browser") if e.get("level") == "SEVERE"]
    assert not errors, errors


SPIKE_AT_S = 40  # after the detector's 30-reading warm-up, as in test_e2e_pipeline
#: Not test_e2e_pipeline's gas-01: the processor's detector state outlives a park within one stack
#: (changelog topics), and a second spike on a point that already had one in the session may not fire.
SPIKE_DEVICE = "gas-03"


def test_a_spike_injected_at_the_simulator_reaches_the_wall_and_is_handled_on_the_phone(
    stack: Settings,
    browsers: Callable[[bool], WebDriver],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole park as the demo runs it (simulator → edge → MQTT → Kafka → Faust → API), with tokens."""
    db_url = f"sqlite:///{tmp_path / 'park-api.sqlite'}"
    db = Database(db_url)
    db.open()
    accounts = AccountStore(db)
    now = int(time.time() * 1000)
    accounts.add_user("cora", "commander", [], now)
    accounts.add_user("ines", "inspector", ["north"], now)
    commander = accounts.create_token("cora", now, None).text
    inspector = accounts.create_token("ines", now, None).text
    db.close()
    monkeypatch.setenv("PARKWATCH_API_DB_URL", db_url)
    monkeypatch.setenv("PARKWATCH_API_AUTH", "tokens")
    monkeypatch.setenv("PARKWATCH_API_CONSUMER_GROUP", f"console-{uuid.uuid4().hex[:8]}")
    configs = [_on_free_ports(c, tmp_path) for c in DEMO_GATEWAYS]
    park = LocalPark(stack, tmp_path / "park", configs, [f"spike:{SPIKE_DEVICE}:ch4:at={SPIKE_AT_S}s"])
    try:
        started_ms = int(time.time() * 1000)
        park.start()
        wall = browsers(False)
        wall.get(f"{stack.api_url}/console/wall#token={commander}")
        _wait(wall, "#conn[data-status=live]", 15, "the wall's stream connected")
        phone = browsers(True)
        phone.get(f"{stack.api_url}/console/inspector")
        _wait(phone, "body[data-view=login]", 10, "the login form")
        phone.find_element(By.ID, "token").send_keys(inspector)
        phone.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
        _wait(phone, "body[data-view=list] #conn.conn-live", 15, "the inspector's list, live")

        def spike_row(d: WebDriver) -> Any:
            park.check_alive()
            try:
                # The shared alerts topic may hold older incidents on the same point (other tests).
                for row in d.find_elements(
                    By.CSS_SELECTOR, f"#feed li[data-point='north/north-gw1/{SPIKE_DEVICE}/ch4']"
                ):
                    if int(row.get_attribute("data-started-ms") or 0) >= started_ms:
                        return row.get_attribute("data-alert-id")
            except StaleElementReferenceException:
                pass
            return False

        alert_id_ = WebDriverWait(wall, SPIKE_AT_S + 40, poll_frequency=0.2).until(spike_row)
        seen_ms = int(time.time() * 1000)
        truth = [json.loads(line) for line in park.truth_log.read_text().splitlines()]
        assert [(t["kind"], t["device"], t["point"]) for t in truth] == [("spike", SPIKE_DEVICE, "ch4")]
        assert seen_ms - truth[0]["start_ms"] < 10_000, (
            f"shown {seen_ms - truth[0]['start_ms']} ms after the spike"
        )
        # Give the sparklines a refresh with the spike in them before the screenshot.
        _wait(wall, ".sparkbox path.spark-line", 20, "a sparkline with data")
        wall.save_screenshot(str(tmp_path / "wall-spike.png"))

        _click(phone, f".alert-item[data-alert-id='{alert_id_}']", 10, "the spike on the phone")
        _wait(phone, "#detail-plot svg path.spark-line", 15, "the recent trend with data")
        phone.find_element(By.ID, "comment").send_keys(f"checked {SPIKE_DEVICE} on site")
        phone.save_screenshot(str(tmp_path / "inspector-spike.png"))
        phone.find_element(By.ID, "do-acknowledge").click()
        _wait(phone, "#detail-state[data-state=acknowledged]", 10, "acknowledged on the phone")
        _wait(
            wall,
            f"#feed li[data-alert-id='{alert_id_}'][data-state=acknowledged]",
            10,
            "acknowledged on the wall",
        )
    finally:
        park.stop()


async def _produce_events(stack: Settings, *events: GatewayEvent) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(KAFKA_GATEWAY_EVENTS, event.encode(), key=event.key)
    finally:
        await producer.stop()


def test_the_wall_counts_and_lists_the_data_gaps_of_the_last_day(
    stack: Settings, api: ApiServer, browsers: Callable[[bool], WebDriver], tmp_path: Path
) -> None:
    asyncio.run(ensure_topics(stack))
    gw, now = f"gw-{uuid.uuid4().hex[:6]}", int(time.time() * 1000)
    frames = GatewayEvent.make("gap", SITE, gw, now - 60_000, "bridge-1", stream="data", from_seq=101,
                               to_seq=140, detail="not received within 60s")  # fmt: skip
    alarms = GatewayEvent.make("gap", SITE, gw, now - 30_000, "bridge-1", stream="alarm", from_seq=7,
                               to_seq=7)  # fmt: skip
    yesterday = GatewayEvent.make("gap", SITE, gw, now - 25 * 3_600_000, "bridge-1", stream="data",
                                  from_seq=1, to_seq=2)  # fmt: skip
    elsewhere = GatewayEvent.make("gap", f"x{SITE}", gw, now - 1000, "bridge-1", stream="data", from_seq=5,
                                  to_seq=9)  # fmt: skip
    offline = GatewayEvent.make("offline", SITE, gw, now - 500, "bridge-1", identity=str(now))
    asyncio.run(_produce_events(stack, yesterday, frames, alarms, elsewhere, offline))
    feed = [make_alert(SITE, device=f"gas-1{i}", severity=("critical", "warning")[i % 2]) for i in range(6)]
    asyncio.run(produce(stack, *feed))

    def day_of_gaps(user: str) -> dict[str, Any]:
        params: dict[str, str | int] = {"kind": "gap", "since_ms": int(time.time() * 1000) - 86_400_000}
        response = httpx.get(f"{api.url}/api/v1/gateway-events", params=params, headers=api.headers(user))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    deadline = time.monotonic() + 20
    while {frames.id, elsewhere.id} - {e["id"] for e in day_of_gaps("cora")["items"]}:
        assert time.monotonic() < deadline, "the API did not get the gap events"
        time.sleep(0.2)

    wall = browsers(False)
    wall.get(f"{api.url}/console/wall#token={api.tokens['cora']}")
    row = _read(wall, f"#gaps li[data-event-id='{frames.id}']", lambda e: e.text, 15, "the gap on the wall")
    assert gw in row and "40 frames missing" in row, row
    frames_row = wall.find_element(By.CSS_SELECTOR, f"#gaps li[data-event-id='{frames.id}']")
    assert frames_row.get_attribute("title") == "seq 101–140"
    alarm_row = _read(wall, f"#gaps li[data-event-id='{alarms.id}']", lambda e: e.text, 5, "the alarm gap")
    assert "1 alarm missing" in alarm_row, alarm_row
    assert not wall.find_elements(By.CSS_SELECTOR, f"#gaps li[data-event-id='{yesterday.id}']")
    # The count is the number of gap events in the last 24 h at the caller's sites (here: all of them).
    total = day_of_gaps("cora")["total"]
    shown = _read(wall, "#count-gaps .n", lambda e: e.text if e.text != "–" else False, 5, "the count")
    assert shown == str(total)
    assert "warn" in (wall.find_element(By.ID, "count-gaps").get_attribute("class") or "")
    # The live feed keeps its room beside them: its first rows are whole inside its panel.
    _wait(wall, f"#feed li[data-alert-id='{feed[-1].id}']", 10, "the alerts in the feed")
    time.sleep(1.5)  # sparklines loaded, flashes settled
    wall.save_screenshot(str(tmp_path / "wall-gaps.png"))
    panel = wall.find_element(By.CSS_SELECTOR, ".p-feed").rect
    rows = [r.rect for r in wall.find_elements(By.CSS_SELECTOR, "#feed li")]
    whole = [r for r in rows if r["y"] + r["height"] <= panel["y"] + panel["height"]]
    assert len(whole) >= 3, (panel, rows)
    wall.find_element(By.ID, "lang").click()
    assert "40 帧数据缺失" in _read(wall, f"#gaps li[data-event-id='{frames.id}']", lambda e: e.text, 5, "zh")
    # The title adds "另有 N 处" (N more) when other tests of the session left gaps too.
    assert wall.find_element(By.CSS_SELECTOR, ".p-gaps h2").text.startswith("数据缺失（近24小时）")
    wall.save_screenshot(str(tmp_path / "wall-gaps-zh.png"))
    wall.find_element(By.ID, "lang").click()

    # An inspector's wall counts and lists their sites' gaps only.
    mine = day_of_gaps("ines")
    assert {e["site"] for e in mine["items"]} == {SITE}
    own = browsers(False)
    own.get(f"{api.url}/console/wall#token={api.tokens['ines']}")
    _wait(own, f"#gaps li[data-event-id='{frames.id}']", 15, "the gap on the inspector's wall")
    assert not own.find_elements(By.CSS_SELECTOR, f"#gaps li[data-event-id='{elsewhere.id}']")
    assert own.find_element(By.CSS_SELECTOR, "#count-gaps .n").text == str(mine["total"])
    errors = [e for e in wall.get_log("browser") + own.get_log("browser") if e.get("level") == "SEVERE"]
    assert not errors, errors
