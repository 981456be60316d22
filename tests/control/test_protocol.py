"""The control protocol: frames in and out, checked before anything is looked into."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveimpro.config.fields import field_specs
from liveimpro.control.protocol import (
    COMMANDS,
    PARAMETERS,
    VERSION_KEY,
    ProtocolError,
    Request,
    check_request,
    encode_reply,
    encode_request,
    error_reply,
    parameter_specs,
    parse_reply,
    parse_request,
)

CAP = 4096
scalars = st.one_of(
    st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()
)


@st.composite
def requests(draw) -> Request:
    """Any valid request: a command with its required parameters and maybe the optional."""
    cmd = draw(st.sampled_from(list(COMMANDS)))
    params = {}
    for key, param in COMMANDS[cmd].params.items():
        if not param.required and draw(st.booleans()):
            continue
        if param.choices is not None:
            params[key] = draw(st.sampled_from(param.choices))
        elif param.kind is str:
            params[key] = draw(st.text(max_size=50))
        else:
            params[key] = draw(scalars)
    return Request(cmd, params)


@given(requests())
def test_encode_and_parse_are_inverses(request: Request) -> None:
    frame = encode_request(request)
    assert parse_request(frame, CAP) == request
    assert encode_request(parse_request(frame, CAP)) == frame


json_values = st.recursive(
    st.one_of(st.none(), scalars),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    st.dictionaries(
        st.text(max_size=10).filter(lambda key: key != VERSION_KEY), json_values, max_size=4
    ),
    st.booleans(),
)
def test_replies_round_trip(fields, ok) -> None:
    reply = {**fields, "ok": ok} if ok else {**fields, "ok": ok, "error": "why"}
    assert parse_reply(encode_reply(reply), 1 << 20) == reply


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"x" * (CAP + 1), f"frame of {CAP + 1} bytes is over the limit of {CAP}"),
        (b"\xff{}", "frame is not UTF-8 text (byte 0)"),
        (b"{", "frame is not JSON: Expecting property name enclosed in double quotes"),
        (b"[1, 2]", 'a request must be a JSON object like {"cmd": "ping"}, got an array'),
        (b'"ping"', "got a string"),
        (b"{}", 'a request needs "cmd"; commands: ping, status'),
        (b'{"cmd": 7}', '"cmd" must be a string, got an integer'),
        (b'{"cmd": "dance"}', "unknown command 'dance'; commands: ping, status, get, set"),
        (b'{"cmd": "ping", "x": 1}', "ping: unknown key 'x'; keys: none"),
        (b'{"cmd": "set", "value": 1}', "set needs 'name' (parameter)"),
        (b'{"cmd": "set", "name": "temperature"}', "set needs 'value' (new value)"),
        (b'{"cmd": "set", "name": 3, "value": 1}', "set: 'name' must be a string, got an integer"),
        (b'{"cmd": "set", "name": "loudness", "value": 1}', "set: unknown name 'loudness'; one of"),
        (b'{"cmd": "set", "name": "top_k", "value": [1]}', "'value' must be a boolean or an"),
        (b'{"cmd": "set", "name": "top_k", "value": NaN}', "NaN is not a JSON number"),
        (b'{"cmd": "ping", "cmd": "status"}', "a key appears twice in one object"),
        (b"[" * 100_000, "over the limit"),
        (b"[" * 4000, "frame nests too deeply"),
    ],
)
def test_bad_frames_are_refused_with_a_clear_message(frame: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_request(frame, CAP)
    assert message in str(raised.value)


def test_a_long_string_parameter_is_refused_with_its_limit() -> None:
    frame = json.dumps({"cmd": "load_model", "name": "m" * 5000}).encode()
    with pytest.raises(ProtocolError, match="'name' must be at most 4096 characters, got 5000"):
        parse_request(frame, 1 << 20)


def test_an_echoed_value_is_cut_short() -> None:
    frame = json.dumps({"cmd": "x" * 1000}).encode()
    with pytest.raises(ProtocolError) as raised:
        parse_request(frame, CAP)
    assert len(str(raised.value)) < 200


def test_bytes_are_required() -> None:
    with pytest.raises(TypeError, match="frame must be bytes, got str"):
        parse_request('{"cmd": "ping"}', CAP)


def test_every_parameter_names_a_real_setting() -> None:
    for name, (section_cls, key) in PARAMETERS.items():
        assert key in field_specs(section_cls), name


def test_an_error_reply_needs_a_message() -> None:
    assert parse_reply(encode_reply(error_reply("no")), CAP) == {"ok": False, "error": "no"}
    with pytest.raises(ProtocolError, match='needs an "error" string'):
        encode_reply({"ok": False})
    with pytest.raises(ProtocolError, match='boolean "ok"'):
        parse_reply(b'{"ok": 1}', CAP)


def test_a_bridge_checks_a_built_request_by_the_same_rules() -> None:
    assert check_request({"cmd": "set", "name": "top_k", "value": 4}) == Request(
        "set", {"name": "top_k", "value": 4}
    )
    with pytest.raises(ProtocolError, match=r"'value' must be .* or a string, got bytes"):
        check_request({"cmd": "set", "name": "top_k", "value": b"4"})
    with pytest.raises(ProtocolError, match=r"^unknown command 'fly'; commands: ping"):
        check_request({"cmd": "fly"})


def test_parameter_specs_give_each_parameters_type_and_range() -> None:
    specs = parameter_specs()
    assert list(specs) == list(PARAMETERS)
    assert specs["temperature"] | {"doc": ""} == {
        "type": "float",
        "setting": "sampling.temperature",
        "doc": "",
        "low": 0,
        "high": 5,
        "low_exclusive": True,
        "choices": None,
    }
    assert specs["quantize"]["choices"] == ("immediate", "beat", "bar")
    assert specs["thru"]["type"] == "bool" and specs["scale"]["type"] == "str"
    json.dumps(specs)  # it travels to the panel's page as JSON
