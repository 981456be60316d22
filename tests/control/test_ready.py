"""The daemon's ready line: one documented format, written and read by one pair of functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveimpro.control.protocol import PROTOCOL_VERSION
from liveimpro.control.ready import READY_PREFIX, Ready, format_ready, parse_ready

endpoints = st.none() | st.text()


@given(st.text(), st.text(), st.text(), endpoints, endpoints, st.integers())
def test_format_and_parse_are_inverses(midi_in, midi_out, model, control, events, protocol):
    ready = Ready(midi_in, midi_out, model, control, events, protocol)
    line = format_ready(ready)
    assert "\n" not in line and line.isascii() and line.startswith(READY_PREFIX)
    assert parse_ready(line) == ready
    assert parse_ready(line + "\n") == ready  # as read from a pipe
    assert format_ready(parse_ready(line)) == line


def test_it_names_the_endpoints_and_the_protocol_version() -> None:
    line = format_ready(Ready("liveimpro in", "liveimpro out", "folk", "tcp://h:1", "tcp://h:2"))
    assert line == (
        'liveimpro ready {"input":"liveimpro in","output":"liveimpro out","model":"folk",'
        f'"control":"tcp://h:1","events":"tcp://h:2","protocol":{PROTOCOL_VERSION}}}'
    )


def test_other_lines_are_no_ready_line() -> None:
    assert parse_ready("liveimpro: listening on 'in', playing on 'out' (model folk)") is None
    assert parse_ready("") is None


@pytest.mark.parametrize(
    "body",
    [
        "{",
        "[]",
        '{"input":"i","output":"o","model":"m","control":null,"events":null}',
        '{"input":"i","output":"o","model":"m","control":null,"events":null,"protocol":"1"}',
        '{"input":"i","output":"o","model":3,"control":null,"events":null,"protocol":1}',
        '{"input":"i","output":"o","model":"m","control":null,"events":null,"protocol":true}',
    ],
)
def test_a_broken_ready_line_is_an_error_not_silence(body: str) -> None:
    with pytest.raises(ValueError):
        parse_ready(READY_PREFIX + body)
