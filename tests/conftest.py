"""Fixtures shared by the test suite."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from liveimpro.harness.jackserver import JackServer, remove_stale_registry

# These machines are shared and noisy: speed is checked by benchmarks, never by a test's clock.
settings.register_profile("shared", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared")


def pytest_sessionstart(session: pytest.Session) -> None:
    # Dead servers' registry slots (left by a crashed run) would refuse our servers a start.
    remove_stale_registry()


@pytest.fixture(scope="session")
def jack_server() -> Iterator[JackServer]:
    """A private JACK server for the session; this process and its children use it.

    Without jackd the JACK tests skip, except under CI (env CI set), where they fail.
    """
    if shutil.which("jackd") is None:
        message = "jackd is not installed (apt-get install --no-install-recommends jackd2)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = JackServer()
    saved = {name: os.environ.get(name) for name in server.env}
    server.start()
    os.environ.update(server.env)
    try:
        yield server
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def random_model_dir(tmp_path_factory) -> Path:
    """A saved model directory with tiny random weights."""
    from tests.randommodel import save_random_model

    return save_random_model(tmp_path_factory.mktemp("models") / "tiny")
