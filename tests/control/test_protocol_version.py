"""Every control frame carries the protocol version; another version gets one clear line."""

from __future__ import annotations

import json
import threading

import pytest
import zmq
from hypothesis import given
from hypothesis import strategies as st

from liveimpro.control.client import Client
from liveimpro.control.events import ENVELOPE_KEYS, TOPICS, decode_event, encode_event
from liveimpro.control.protocol import (
    PROTOCOL_VERSION,
    VERSION_KEY,
    ProtocolError,
    Request,
    encode_reply,
    encode_request,
    parse_reply,
    parse_request,
)
from liveimpro.control.server import ControlServer

CAP = 4096
OTHER_VERSIONS = st.integers().filter(lambda version: version != PROTOCOL_VERSION)
field_names = st.text(max_size=10).filter(lambda name: name not in (VERSION_KEY, "ok", "error"))
event_field_names = field_names.filter(lambda name: name not in ENVELOPE_KEYS)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)


def test_every_frame_this_side_sends_names_the_version_first() -> None:
    request = json.loads(encode_request(Request("set", {"name": "top_k", "value": 3})))
    assert list(request)[:2] == [VERSION_KEY, "cmd"] and request[VERSION_KEY] == PROTOCOL_VERSION
    reply = json.loads(encode_reply({"ok": True, "pong": True}))
    assert reply == {VERSION_KEY: PROTOCOL_VERSION, "ok": True, "pong": True}
    _, _, body = encode_event("tempo", 1.0, {"bpm": 90.0}, seq=0, run="r").partition(b" ")
    assert json.loads(body)[VERSION_KEY] == PROTOCOL_VERSION


def test_a_request_without_a_version_is_read_as_version_1() -> None:
    assert parse_request(b'{"cmd": "ping"}', CAP) == Request("ping")
    assert parse_request(b'{"protocol": 1, "cmd": "ping"}', CAP) == Request("ping")


@given(OTHER_VERSIONS)
def test_a_request_in_another_version_is_refused_with_one_line(version: int) -> None:
    frame = json.dumps({VERSION_KEY: version, "cmd": "ping"}).encode()
    with pytest.raises(ProtocolError) as raised:
        parse_request(frame, CAP)
    message = str(raised.value)
    assert "\n" not in message and len(message) < 200
    assert message.startswith("the request is in protocol version ")
    assert f"this side speaks only version {PROTOCOL_VERSION}" in message


@pytest.mark.parametrize(
    ("version", "kind"), [("1", "a string"), (True, "a boolean"), (1.0, "a number"), (None, "null")]
)
def test_a_version_that_is_no_integer_is_refused(version: object, kind: str) -> None:
    frame = json.dumps({VERSION_KEY: version, "cmd": "ping"}).encode()
    with pytest.raises(ProtocolError, match=f'^"protocol" must be an integer, got {kind}$'):
        parse_request(frame, CAP)


@given(st.dictionaries(field_names, scalars, max_size=4), OTHER_VERSIONS)
def test_a_reply_round_trips_and_one_in_another_version_is_refused(fields, version) -> None:
    reply = {**fields, "ok": True}
    assert parse_reply(encode_reply(reply), CAP * 16) == reply
    foreign = json.dumps({VERSION_KEY: version, **reply}).encode()
    with pytest.raises(ProtocolError, match=r"^the reply is in protocol version"):
        parse_reply(foreign, CAP * 16)


@given(
    st.sampled_from(list(TOPICS)),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=0),
    st.text(max_size=10),
    st.dictionaries(event_field_names, scalars, max_size=4),
)
def test_events_round_trip_with_their_number_and_run(topic, when, seq, run, fields) -> None:
    frame = encode_event(topic, when, fields, seq=seq, run=run)
    event = decode_event(frame)
    assert event == {"event": topic, "time": when, "seq": seq, "run": run, **fields}
    assert encode_event(topic, when, fields, seq=seq, run=run) == frame
    foreign = frame.replace(b'{"protocol":1,', b'{"protocol":2,', 1)
    with pytest.raises(ProtocolError, match=r"^the event is in protocol version 2"):
        decode_event(foreign)


def test_the_envelopes_keys_cannot_be_a_parameter_a_reply_field_or_an_event_field() -> None:
    with pytest.raises(ValueError, match="'protocol' is the envelope's own key"):
        encode_request(Request("ping", {VERSION_KEY: 2}))
    with pytest.raises(ValueError, match="'protocol' is the envelope's own key"):
        encode_reply({"ok": True, VERSION_KEY: 2})
    with pytest.raises(ValueError, match="cannot be named protocol, seq"):
        encode_event("tempo", 0.0, {"seq": 1, VERSION_KEY: 2}, seq=0, run="r")


def test_the_server_answers_another_version_with_one_line_and_lives_on() -> None:
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.bind("tcp://127.0.0.1:*")
    server = ControlServer(router, lambda request: {"ok": True, "cmd": request.cmd}, CAP)
    raw = context.socket(zmq.REQ)
    raw.rcvtimeo = 5000
    raw.connect(server.address)
    try:
        raw.send(b'{"protocol": 2, "cmd": "ping"}')
        assert parse_reply(raw.recv(), CAP) == {
            "ok": False,
            "error": "the request is in protocol version 2; this side speaks only version 1 "
            "(run the same liveimpro release on both sides)",
        }
        with Client(server.address, timeout=5.0) as client:
            assert client.ping() == {"ok": True, "cmd": "ping"}
    finally:
        raw.close(linger=0)
        server.close()
        context.term()


def test_the_client_sends_the_version() -> None:
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.bind("tcp://127.0.0.1:*")
    router.rcvtimeo = 5000
    address = router.getsockopt_string(zmq.LAST_ENDPOINT)
    received: list[bytes] = []

    def answer_once() -> None:
        *envelope, frame = router.recv_multipart()
        received.append(frame)
        router.send_multipart([*envelope, encode_reply({"ok": True})])

    answering = threading.Thread(target=answer_once)
    answering.start()
    try:
        with Client(address, timeout=5.0) as client:
            client.ping()
    finally:
        answering.join()
        router.close(linger=0)
        context.term()
    assert json.loads(received[0]) == {VERSION_KEY: PROTOCOL_VERSION, "cmd": "ping"}
