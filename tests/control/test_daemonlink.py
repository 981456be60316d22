"""DaemonLink: a long-lived client that polls status, passes events on and sends requests,
with the same CURVE keys as ``liveimpro ctl`` (against a ControlServer, no JACK)."""

from __future__ import annotations

import queue
from pathlib import Path

from liveimpro.config.settings import ControlSettings
from liveimpro.control.daemonlink import DaemonLink
from liveimpro.control.protocol import Request
from tests.servedrig import Served

WAIT_S = 10.0


def link_settings(served: Served, folder: Path, client: str) -> ControlSettings:
    return ControlSettings(
        address=served.server.address,
        events=served.events_address,
        client_secret_key=str(folder / f"{client}.key_secret"),
        server_public_key=str(folder / "server.key"),
    )


def test_a_link_with_allowed_keys_sees_status_and_events_and_sends_requests(curve) -> None:
    served, paths = curve
    statuses: queue.Queue = queue.Queue()
    events: queue.Queue = queue.Queue()
    settings = link_settings(served, paths["dir"], "alice")
    link = DaemonLink(settings, statuses.put, events.put, poll_interval=0.05)
    try:
        status = statuses.get(timeout=WAIT_S)
        assert status["ok"] and status["state"] == "listening" and status["model"] == "tiny"
        for _ in range(100):  # until the subscription has reached the publisher
            served.pub.send(b'warning {"event": "warning", "time": 0, "message": "hi"}')
            if not events.empty():
                break
            statuses.get(timeout=WAIT_S)  # a poll's time
        assert events.get_nowait() == {"event": "warning", "time": 0, "message": "hi"}
        assert link.request(Request("set", {"name": "top_k", "value": 3})) == {
            "ok": True,
            "name": "top_k",
            "value": 3,
        }
        refused = link.request(Request("set", {"name": "top_k", "value": -1}))
        assert refused == {"ok": False, "error": "set: sampling.top_k must be in [0, 1000], got -1"}
    finally:
        link.close()


def test_a_link_with_keys_not_allowed_sees_no_daemon(curve) -> None:
    served, paths = curve
    statuses: queue.Queue = queue.Queue()
    settings = link_settings(served, paths["dir"], "mallory")
    link = DaemonLink(settings, statuses.put, lambda _: None, poll_interval=0.05, timeout=0.2)
    try:
        assert statuses.get(timeout=WAIT_S) is None
        reply = link.request(Request("ping"))
        assert not reply["ok"] and reply["error"].startswith("no reply from tcp://127.0.0.1:")
    finally:
        link.close()
