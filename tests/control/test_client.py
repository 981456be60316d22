"""The Python client: clear errors, never a hang (the server side is in test_controlserver)."""

from __future__ import annotations

import time

import pytest

import liveimpro
from liveimpro.control.client import Client, NoReply


def test_the_package_exports_the_client() -> None:
    assert liveimpro.Client is Client


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout must be > 0 seconds, got 0"):
        Client(timeout=0)


def test_no_daemon_is_a_clear_error_not_a_hang() -> None:
    started = time.monotonic()
    with Client("tcp://127.0.0.1:9", timeout=0.3) as client, pytest.raises(NoReply) as raised:
        client.status()
    assert time.monotonic() - started < 2.0
    assert "no reply from tcp://127.0.0.1:9 within 0.3 s" in str(raised.value)
