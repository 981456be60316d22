"""``liveimpro panel`` in a real browser (the system's Chromium, headless, through Playwright)
against ``liveimpro run`` on a private JACK server; and its token off loopback."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from liveimpro.control.client import Client
from liveimpro.control.protocol import PARAMETERS
from liveimpro.harness.daemonprocess import DaemonProcess
from liveimpro.harness.jackserver import JackServer
from liveimpro.surfaces.panel.process import ADDRESS_LINE, CHROMIUM, PanelProcess, launch_chromium
from tests.daemonrig import (
    controlled_settings,
    ctl,
    free_port,
    play_phrase,
    start_daemon,
    write_config,
)
from tests.jackpeers import MidiDump

WAIT_MS = 20_000  # generous: the machine is shared


def artefact_dir(tmp_path: Path) -> Path:
    """Where screenshots go: LIVEIMPRO_ARTEFACTS (CI keeps it), else the test's tmp folder."""
    folder = Path(os.environ.get("LIVEIMPRO_ARTEFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Off loopback: a token on every request ---------------------------------------------------


def status_of(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as reply:
            return reply.status, dict(reply.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


@pytest.mark.slow
def test_another_address_needs_the_printed_token_on_every_request(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", controlled_settings("folk", None, 4.0))
    panel = PanelProcess(config, "--host", "0.0.0.0")
    try:
        parts = urlsplit(panel.url)
        token = re.fullmatch(r"token=([\w-]{20,})", parts.query)[1]
        base = f"http://127.0.0.1:{parts.port}"
        assert status_of(f"{base}/")[0] == 403
        assert status_of(f"{base}/static/panel.js")[0] == 403
        assert status_of(f"{base}/?token=wrong")[0] == 403
        code, headers = status_of(f"{base}/?token={token}")
        assert code == 200 and "HttpOnly" in headers["Set-Cookie"]
        cookie = {"Cookie": headers["Set-Cookie"].split(";")[0]}
        assert status_of(f"{base}/static/panel.js", cookie)[0] == 200
    finally:
        assert panel.stop() == 0


@pytest.mark.slow
def test_loopback_needs_no_token_but_refuses_other_sites(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", controlled_settings("folk", None, 4.0))
    panel = PanelProcess(config)
    try:
        url = panel.url
        assert "token" not in url
        code, headers = status_of(url)
        assert code == 200 and headers["Content-Security-Policy"].startswith("default-src 'self'")
        upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
        upgrade["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
        assert status_of(f"{url}ws", {**upgrade, "Origin": "http://evil.example"})[0] == 403
        assert status_of(url, {"Host": "evil.example:8766"})[0] == 403  # DNS rebinding
        assert status_of(url.replace("127.0.0.1", "localhost"))[0] == 200
    finally:
        assert panel.stop() == 0


# In a browser, against a live daemon ------------------------------------------------------


class Session:
    """A daemon (restartable), a panel beside it and a browser page open on the panel."""

    def __init__(self, server: JackServer, model: Path, folder: Path, browser) -> None:
        self.dump = MidiDump(server)
        self.settings = controlled_settings(model, self.dump.port_name, response_beats=16.0)
        self.address, self.events = self.settings.control.address, self.settings.control.events
        self.daemon = start_daemon(self.settings, private_control=False)
        self.config = write_config(folder / "config.toml", self.settings)  # for the panel, ctl
        self.panel = PanelProcess(self.config)
        self.url = self.panel.url
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.requests: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("websocket", lambda socket: self.requests.append(socket.url))
        self.page.goto(self.url)
        self.wait_live()

    def wait_live(self) -> None:
        self.page.wait_for_selector("#connection.live", timeout=WAIT_MS)

    def restart_daemon(self) -> None:
        self.daemon.stop()
        self.page.wait_for_selector("#connection.disconnected", timeout=WAIT_MS)
        self.daemon = start_daemon(self.settings, private_control=False)
        self.wait_live()

    def notes(self, source: str) -> list[dict]:
        return self.page.evaluate(
            "(source) => window.liveimpro.notes.filter((note) => note.source === source)", source
        )

    def close(self) -> None:
        self.page.close()
        assert self.panel.stop() == 0
        self.daemon.stop()
        self.dump.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    missing = [
        "chromium (apt-get install --no-install-recommends chromium)" * (CHROMIUM is None),
        "playwright (pip install -e '.[dev]')" * (importlib.util.find_spec("playwright") is None),
    ]
    if any(missing):
        message = "not installed: " + ", ".join(filter(None, missing))
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = launch_chromium(driver)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def session(jack_server, random_model_dir, tmp_path_factory, browser) -> Iterator[Session]:
    live = Session(jack_server, random_model_dir, tmp_path_factory.mktemp("panel"), browser)
    try:
        yield live
    finally:
        live.close()


# Colours of the roll (panel.css): the phrase blue, the answer amber.
COUNT_COLOURS = """() => {
  const canvas = document.getElementById("roll");
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const counts = {phrase: 0, answer: 0};
  for (let i = 0; i < pixels.length; i += 4) {
    const [r, g, b] = [pixels[i], pixels[i + 1], pixels[i + 2]];
    if (r === 0x3b && g === 0x82 && b === 0xf6) counts.phrase++;
    if (r === 0xf5 && g === 0x9e && b === 0x0b) counts.answer++;
  }
  return counts;
}"""


@pytest.mark.jack
@pytest.mark.slow
def test_the_page_loads_with_no_request_to_another_host(session: Session) -> None:
    panel_host = urlsplit(session.url).netloc
    assert session.requests, "the page made no request"
    assert {urlsplit(url).netloc for url in session.requests} == {panel_host}
    assert session.page.inner_text("#model") == "tiny"
    assert session.page.inner_text("#clock") == "internal, rolling"


@pytest.mark.jack
@pytest.mark.slow
def test_a_phrase_shows_on_the_roll_then_the_answer(session: Session, tmp_path: Path) -> None:
    page = session.page
    play_phrase()
    page.wait_for_function(
        "() => window.liveimpro.notes.some((note) => note.source === 'answer')", timeout=WAIT_MS
    )
    page.wait_for_function(
        "() => document.getElementById('state').textContent === 'responding'", timeout=WAIT_MS
    )
    page.wait_for_timeout(800)  # a little of the answer on screen
    shot = artefact_dir(tmp_path) / "panel-mid-answer.png"
    page.screenshot(path=shot, full_page=True)
    assert shot.stat().st_size > 10_000
    phrase = session.notes("phrase")
    assert sorted(note["pitch"] for note in phrase) == [60, 64, 67, 72]
    first_answer = min(note["start"] for note in session.notes("answer"))
    assert first_answer > max(note["end"] for note in phrase)  # the answer follows the phrase
    colours = page.evaluate(COUNT_COLOURS)
    assert colours["phrase"] > 100 and colours["answer"] > 100, colours
    delays = page.evaluate("() => window.liveimpro.drawDelays")
    assert delays and 0 < sorted(delays)[len(delays) // 2] < 1000


@pytest.mark.jack
@pytest.mark.slow
def test_the_temperature_control_and_ctl_meet_in_the_daemon(session: Session) -> None:
    page = session.page
    page.fill("#param-temperature", "0.35")
    with Client(session.address, timeout=10.0) as client:
        deadline = time.monotonic() + WAIT_MS / 1000
        while client.get("temperature") != 0.35:
            assert time.monotonic() < deadline, "the daemon's temperature never moved"
            time.sleep(0.05)
        assert client.status()["parameters"]["temperature"] == 0.35
    page.wait_for_selector("#value-temperature >> text=0.35", timeout=WAIT_MS)
    changed = ctl(session.config, "set", "temperature", "1.7")
    assert changed.returncode == 0, changed.stderr
    page.wait_for_selector("#value-temperature >> text=1.7", timeout=WAIT_MS)
    assert page.input_value("#param-temperature") == "1.7"


@pytest.mark.jack
@pytest.mark.slow
def test_a_refused_change_shows_the_daemons_message(session: Session) -> None:
    page = session.page
    page.fill("#param-scale", "H major")
    page.press("#param-scale", "Enter")
    page.wait_for_selector("#error:not([hidden])", timeout=WAIT_MS)
    error = page.inner_text("#error")
    assert error.startswith("set: ") and "H major" in error, error
    assert page.inner_text("#value-scale") == "off"
    page.fill("#param-scale", "D dorian")
    page.press("#param-scale", "Enter")
    page.wait_for_selector("#value-scale >> text=D dorian", timeout=WAIT_MS)
    assert json.loads(ctl(session.config, "get", "scale").stdout)["value"] == "D dorian"


def shown(value: bool | int | float | str) -> str:
    """A value as the page writes it (JavaScript's numbers, to four decimals)."""
    if isinstance(value, bool):
        return str(value).lower()
    return f"{round(value, 4):g}" if isinstance(value, float) else str(value)


@pytest.mark.jack
@pytest.mark.slow
def test_every_parameter_has_a_control_with_the_daemons_value_beside_it(session: Session) -> None:
    with Client(session.address, timeout=10.0) as client:
        parameters = client.get()
    assert set(parameters) == set(PARAMETERS)
    for name, value in parameters.items():
        assert session.page.is_visible(f"#param-{name}"), name
        assert session.page.inner_text(f"#value-{name}") == shown(value), name


@pytest.mark.jack
@pytest.mark.slow
def test_mute_mutes_the_daemon_and_the_button_unmutes_it(session: Session) -> None:
    page = session.page
    page.click("#mute")
    page.wait_for_selector("#state >> text=muted", timeout=WAIT_MS)
    assert page.inner_text("#mute") == "unmute"
    with Client(session.address, timeout=10.0) as client:
        assert client.status()["state"] == "muted"
        page.click("#mute")
        page.wait_for_selector("#state >> text=listening", timeout=WAIT_MS)
        assert client.status()["state"] == "listening"


@pytest.mark.jack
@pytest.mark.slow
def test_a_stopped_daemon_shows_disconnected_then_live_again(session: Session) -> None:
    session.restart_daemon()  # waits for "disconnected", then for "live"
    assert session.page.inner_text("#state") == "listening"


@pytest.mark.jack
@pytest.mark.slow
def test_run_with_panel_starts_both_and_stops_both(
    jack_server, random_model_dir: Path, browser
) -> None:
    settings = controlled_settings(random_model_dir, None, 4.0)
    port = free_port()
    panel = ("--panel", "--panel-port", str(port))
    with DaemonProcess(settings, run_options=panel, private_control=False) as daemon:
        daemon.wait_ready()
        deadline = time.monotonic() + WAIT_MS / 1000
        while (address := ADDRESS_LINE.search(daemon.output)) is None:
            assert daemon.running() and time.monotonic() < deadline, daemon.output
            time.sleep(0.05)
        url = address[1]
        assert url == f"http://127.0.0.1:{port}/"
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#connection.live", timeout=WAIT_MS)
        page.close()
        status = daemon.stop()
    output = daemon.output
    assert status == 0, output
    with pytest.raises(OSError):  # the panel went with it
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
