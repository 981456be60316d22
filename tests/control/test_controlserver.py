"""The control server on loopback: every frame gets an answer; CURVE keeps strangers out."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liveimpro.config.settings import ControlSettings
from liveimpro.control.client import Client, NoReply
from liveimpro.control.keys import create_key_pair
from liveimpro.control.protocol import COMMANDS, PARAMETERS, parse_reply
from liveimpro.control.server import (
    HARD_LIMIT_FACTOR,
    check_exposure,
    is_loopback,
    open_sockets,
)
from tests.controlrig import ControlRig
from tests.servedrig import CAP, EPHEMERAL, Served


@pytest.fixture(scope="module")
def served(random_model_dir) -> Iterator[Served]:
    served = Served(ControlRig(random_model_dir))
    yield served
    served.close()


@pytest.fixture(scope="module")
def raw(served) -> Iterator[zmq.Socket]:
    socket = served.raw_socket()
    yield socket
    socket.close()


def dumps(value) -> bytes:
    return json.dumps(value).encode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
unknown_commands = st.text(max_size=20).filter(lambda name: name not in COMMANDS)
not_scalars = (
    st.none() | st.lists(json_values, max_size=3) | st.dictionaries(st.text(), json_values)
)
malformed = st.one_of(
    st.binary(max_size=400),  # random bytes
    json_values.filter(lambda value: not isinstance(value, dict)).map(dumps),  # not an object
    st.dictionaries(st.text(max_size=8).filter(lambda key: key != "cmd"), json_values).map(dumps),
    st.builds(
        lambda cmd, rest: {**rest, "cmd": cmd},
        unknown_commands,
        st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    ).map(dumps),
    st.builds(lambda cmd: {"cmd": cmd}, json_values.filter(lambda c: not isinstance(c, str))).map(
        dumps
    ),
    st.builds(  # a known command with a key it does not take
        lambda cmd, key, value: {"cmd": cmd, key: value},
        st.sampled_from(list(COMMANDS)),
        st.text(max_size=8).filter(lambda key: key not in ("cmd", "name", "value")),
        json_values,
    ).map(dumps),
    st.builds(  # a value of no JSON scalar type
        lambda name, value: {"cmd": "set", "name": name, "value": value},
        st.sampled_from(list(PARAMETERS)),
        not_scalars,
    ).map(dumps),
    st.builds(  # a temperature out of range
        lambda value: {"cmd": "set", "name": "temperature", "value": value},
        st.floats(max_value=0) | st.floats(min_value=5, exclude_min=True) | st.integers(6),
    ).map(dumps),
    st.builds(  # a parameter that does not exist
        lambda name, value: {"cmd": "set", "name": name, "value": value},
        st.text(max_size=12).filter(lambda name: name not in PARAMETERS),
        json_values,
    ).map(dumps),
    st.integers(CAP + 1, CAP * HARD_LIMIT_FACTOR).map(  # over the cap, under the hard limit
        lambda size: (b'{"cmd": "ping", "pad": "' + b"x" * size)[:size]
    ),
)


FUZZ_EXAMPLES = 10_000


@pytest.mark.slow
def test_malformed_frames_get_error_replies_and_the_daemon_still_answers_and_plays(
    served, raw
) -> None:
    sent = []

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(frame=malformed)
    def fuzz(frame: bytes) -> None:
        raw.send(frame)
        reply = json.loads(raw.recv())
        assert reply["ok"] is False and isinstance(reply["error"], str) and reply["error"]
        sent.append(len(frame))

    fuzz()
    assert len(sent) >= FUZZ_EXAMPLES and max(sent) > CAP
    rig = served.rig
    with Client(served.server.address, timeout=5.0) as client:
        status = client.status()
    assert status["state"] == "listening" and status["parameters"]["temperature"] == 1.0
    rig.wait(10)
    clock = ("clock_start", "tick")
    assert [topic for topic in rig.log.topics() if topic not in clock] == []  # no change
    rig.phrase()
    rig.wait_for("responding")
    rig.wait_for("listening")
    assert rig.notes_on()


def test_a_request_of_several_frames_is_refused(served, raw) -> None:
    raw.send_multipart([b'{"cmd": "ping"}', b"more"])
    assert parse_reply(raw.recv(), CAP) == {"ok": False, "error": "a request is one frame, got 2"}


def test_a_frame_over_the_hard_limit_is_dropped_and_the_server_lives_on(served) -> None:
    socket = served.raw_socket()
    socket.rcvtimeo = 500
    socket.send(b"x" * (CAP * HARD_LIMIT_FACTOR + 1))
    with pytest.raises(zmq.Again):
        socket.recv()  # ZeroMQ closed that connection: no reply
    socket.close()
    with Client(served.server.address, timeout=5.0) as client:
        assert client.ping() == {"ok": True, "pong": True}


def test_a_refused_request_raises_with_the_daemons_message(served) -> None:
    from liveimpro.control.client import ControlError

    with Client(served.server.address, timeout=5.0) as client:
        with pytest.raises(ControlError, match=r"set: sampling\.temperature must be in \(0, 5\]"):
            client.set("temperature", 9)
        assert client.get("top_k") == 0


def test_a_bug_in_a_handler_is_an_internal_error_reply_and_a_logged_traceback(
    served, monkeypatch, capsys
) -> None:
    def buggy(source: str) -> dict:
        raise TypeError("'NoneType' object is not subscriptable")

    monkeypatch.setitem(served.rig.controls._handlers, "ping", buggy)
    socket = served.raw_socket()
    socket.send(b'{"cmd": "ping"}')
    reply = json.loads(socket.recv())
    socket.close()
    assert reply["ok"] is False
    assert reply["error"].startswith("ping: internal error: TypeError(")
    logged = capsys.readouterr().err
    assert "Traceback (most recent call last)" in logged and "in buggy" in logged


def test_a_slow_model_load_never_delays_another_clients_panic(served, monkeypatch) -> None:
    release = threading.Event()
    real_load = served.rig.controls.loader._load

    def slow_load(name, settings):
        release.wait(30)  # a model file that takes long to read and check
        return real_load(name, settings)

    monkeypatch.setattr(served.rig.controls.loader, "_load", slow_load)
    loading = served.raw_socket()
    loading.send(json.dumps({"cmd": "load_model", "name": "tiny"}).encode())
    try:
        with Client(served.server.address, timeout=2.0) as other:
            assert other.panic() is None  # answered while the load waits
            assert other.ping() == {"ok": True, "pong": True}
        with pytest.raises(zmq.Again):
            loading.recv(zmq.NOBLOCK)  # its reply waits for the load
    finally:
        release.set()
    assert parse_reply(loading.recv(), CAP) == {
        "ok": True,
        "model": "tiny",
        "takes_effect": "at the next phrase",
    }
    loading.close()


# Security ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "loopback"),
    [
        ("tcp://127.0.0.1:5555", True),
        ("tcp://127.0.0.2:*", True),
        ("tcp://localhost:5555", True),
        ("tcp://[::1]:5555", True),
        ("ipc:///tmp/liveimpro", True),
        ("tcp://0.0.0.0:5555", False),
        ("tcp://*:5555", False),
        ("tcp://192.168.1.10:5555", False),
        ("tcp://eth0:5555", False),
        ("pgm://eth0;239.192.1.1:5555", False),
    ],
)
def test_loopback_endpoints(endpoint: str, loopback: bool) -> None:
    assert is_loopback(endpoint) is loopback


def test_binding_beyond_loopback_needs_curve(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"control\.address tcp://0\.0\.0\.0:5555 is not a loop"):
        check_exposure(ControlSettings(address="tcp://0.0.0.0:5555"))
    with pytest.raises(ValueError, match=r"control\.events tcp://\*:5556"):
        check_exposure(ControlSettings(events="tcp://*:5556"))
    keys = ControlSettings(
        address="tcp://0.0.0.0:5555",
        server_secret_key=str(tmp_path / "server.key_secret"),
        client_public_keys=str(tmp_path),
    )
    check_exposure(keys)  # with CURVE it may


def test_curve_lets_in_allowed_clients_only(curve) -> None:
    from liveimpro.control.client import CurveKeys

    served, paths = curve
    folder = paths["dir"]
    alice = CurveKeys(folder / "alice.key_secret", folder / "server.key")
    mallory = CurveKeys(folder / "mallory.key_secret", folder / "server.key")
    with Client(served.server.address, timeout=5.0, keys=alice) as client:
        assert client.ping()["ok"]
    for keys in (mallory, None):
        with Client(served.server.address, timeout=1.0, keys=keys) as client:
            with pytest.raises(NoReply):
                client.ping()
            with pytest.raises(NoReply):
                client.request("panic")
    served.rig.wait(10)
    assert served.rig.log.of("action") == []  # the refused panic never reached the loop


def test_curve_guards_the_events_too(curve) -> None:
    from liveimpro.control.client import CurveKeys

    served, paths = curve
    folder = paths["dir"]
    alice = CurveKeys(folder / "alice.key_secret", folder / "server.key")
    mallory = CurveKeys(folder / "mallory.key_secret", folder / "server.key")
    with (
        Client(served.server.address, events=served.events_address, keys=alice) as ok,
        Client(served.server.address, events=served.events_address, keys=mallory) as bad,
        ok.subscribe() as allowed_events,
        bad.subscribe() as refused_events,
    ):
        publisher_events = []
        for _ in range(50):  # until the subscription has reached the publisher
            served.pub.send(b'warning {"event": "warning", "time": 0, "message": "hi"}')
            if (event := allowed_events.receive(timeout=0.1)) is not None:
                publisher_events.append(event)
                break
        assert publisher_events == [{"event": "warning", "time": 0, "message": "hi"}]
        assert refused_events.receive(timeout=0.5) is None


def test_the_server_key_must_hold_a_secret(tmp_path) -> None:
    public, _ = create_key_pair(tmp_path, "server")
    settings = ControlSettings(
        **EPHEMERAL, server_secret_key=str(public), client_public_keys=str(tmp_path)
    )
    context = zmq.Context()
    try:
        with pytest.raises(ValueError, match="holds no secret"):
            open_sockets(context, settings)
    finally:
        context.term()
