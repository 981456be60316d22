"""Fixtures of the control-plane tests: a ControlServer behind CURVE keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from liveimpro.control.keys import create_key_pair
from tests.controlrig import ControlRig
from tests.servedrig import Served


@pytest.fixture
def curve(tmp_path, random_model_dir) -> Iterator[tuple[Served, dict]]:
    """A server that lets in alice only; the key files (server, alice, mallory) in ``dir``."""
    allowed = tmp_path / "allowed"
    _, server_secret = create_key_pair(tmp_path, "server")
    create_key_pair(tmp_path, "alice")
    create_key_pair(tmp_path, "mallory")
    allowed.mkdir()
    (allowed / "alice.key").write_bytes((tmp_path / "alice.key").read_bytes())
    served = Served(
        ControlRig(random_model_dir),
        server_secret_key=str(server_secret),
        client_public_keys=str(allowed),
    )
    yield served, {"dir": tmp_path}
    served.close()
