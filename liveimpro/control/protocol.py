"""The control protocol: one JSON object a frame, checked against one table of commands.

Every frame carries the protocol version it speaks, ``"protocol": PROTOCOL_VERSION``, first,
like jupyter_client's message header: requests, replies and events (liveimpro.control.events).
A frame without it is read as version 1, so clients from before the version was sent still
work; any other version is refused with one line saying which one this side speaks.

A request is ``{"protocol": 1, "cmd": NAME, KEY: VALUE, ...}``; the keys besides
``protocol`` and ``cmd`` are the command's parameters, as :data:`COMMANDS` lists them. A reply
is ``{"protocol": 1, "ok": true, ...}`` or ``{"protocol": 1, "ok": false, "error": MESSAGE}``.
:func:`parse_request` checks, in this order and before it looks inside anything, the frame's
size, its UTF-8, its JSON, that it holds an object, the version, the command, and each
parameter's presence, type and range; every failure raises :class:`ProtocolError` with a
message meant for the client. :func:`encode_request` and :func:`parse_request` are exact
inverses, as are :func:`encode_reply` and :func:`parse_reply`; the parsed forms leave the
version out (it can only be this one).

The settable parameters are named in :data:`PARAMETERS`; their types and ranges are the
settings' own (liveimpro.config.settings), checked when a value is set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from liveimpro.config.fields import Section, field_specs, field_type
from liveimpro.config.settings import (
    ClockSettings,
    ContinuationSettings,
    DaemonSettings,
    PhraseSettings,
    ResponseSettings,
    SamplingSettings,
)
from liveimpro.errors import UserError

PROTOCOL_VERSION = 1
VERSION_KEY = "protocol"
UNVERSIONED = 1  # what a frame without a version speaks: sent before versions were

# Live name -> the setting it changes.
PARAMETERS: dict[str, tuple[type[Section], str]] = {
    "temperature": (SamplingSettings, "temperature"),
    "top_k": (SamplingSettings, "top_k"),
    "top_p": (SamplingSettings, "top_p"),
    "scale": (SamplingSettings, "scale"),
    "tempo": (ClockSettings, "bpm"),
    "response_beats": (ContinuationSettings, "beats"),
    "response_length": (ResponseSettings, "length"),
    "response_proportion": (ResponseSettings, "proportion"),
    "quantize": (ResponseSettings, "quantize"),
    "on_new_phrase": (ResponseSettings, "on_new_phrase"),
    "thru": (DaemonSettings, "thru"),
    "channel": (ResponseSettings, "channel"),
    "velocity_follow": (ResponseSettings, "velocity_follow"),
    "silence_beats": (PhraseSettings, "silence_beats"),
}


def parameter_specs() -> dict[str, dict[str, Any]]:
    """Each settable parameter's type, range or choices and meaning, for clients to build
    controls from (the checks stay the settings' own)."""
    specs = {}
    for name, (section_cls, key) in PARAMETERS.items():
        spec = field_specs(section_cls)[key]
        specs[name] = {
            "type": field_type(section_cls, key).__name__,
            "setting": f"{section_cls.SECTION}.{key}",
            "doc": spec.doc,
            "low": spec.low,
            "high": spec.high,
            "low_exclusive": spec.low_exclusive,
            "choices": spec.choices,
        }
    return specs


ECHO_CHARS = 40  # how much of a bad value an error message quotes


class ProtocolError(UserError, ValueError):
    """A frame that is no valid request; the message says why, for the client."""


@dataclass(frozen=True)
class Param:
    """One parameter of a command: its JSON type and allowed values."""

    kind: type | tuple[type, ...]
    doc: str
    required: bool = True
    choices: tuple[str, ...] | None = None
    max_length: int = 4096  # strings only

    def check(self, command: str, key: str, value: Any) -> None:
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        # bool is an int in Python but not in JSON: never accept one for the other
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            expected = " or ".join(_json_type(kind) for kind in kinds)
            raise ProtocolError(
                f"{command}: '{key}' must be {expected}, got {_json_type(type(value))}"
            )
        if isinstance(value, str) and len(value) > self.max_length:
            raise ProtocolError(
                f"{command}: '{key}' must be at most {self.max_length} characters, got {len(value)}"
            )
        if self.choices is not None and value not in self.choices:
            raise ProtocolError(
                f"{command}: unknown {key} {_echo(value)}; one of {', '.join(self.choices)}"
            )


@dataclass(frozen=True)
class CommandSpec:
    doc: str
    params: dict[str, Param] = field(default_factory=dict)


SCALAR = (bool, int, float, str)

COMMANDS: dict[str, CommandSpec] = {
    "ping": CommandSpec("answer at once: is the daemon there?"),
    "status": CommandSpec(
        "state, model, tempo, clock source, parameters and counters",
    ),
    "get": CommandSpec(
        "one parameter's value, or every parameter's without a name",
        {"name": Param(str, "parameter", required=False, choices=tuple(PARAMETERS))},
    ),
    "set": CommandSpec(
        "change a parameter; the value is checked against its range",
        {
            "name": Param(str, "parameter", choices=tuple(PARAMETERS)),
            "value": Param(SCALAR, "new value"),
        },
    ),
    "panic": CommandSpec("silence every note now and drop the phrase under way"),
    "mute": CommandSpec("stop answering (the answer playing stops) until unmute"),
    "unmute": CommandSpec("answer phrases again"),
    "loop": CommandSpec("play the last response again, from a bar line"),
    "mutate": CommandSpec("answer the last phrase anew, re-sampled from the same primed state"),
    "models": CommandSpec("the models that load_model can load"),
    "load_model": CommandSpec(
        "load a model (name or path) and swap it in before the next phrase",
        {"name": Param(str, "model name under model.models_dir, or a path")},
    ),
}


@dataclass(frozen=True)
class Request:
    cmd: str
    params: Mapping[str, Any] = field(default_factory=dict)


def _json_type(kind: type) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {dict: "an object", list: "an array", type(None): "null"}
    return names.get(kind, kind.__name__)


def _echo(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= ECHO_CHARS else text[: ECHO_CHARS - 3] + "..."


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ProtocolError("a key appears twice in one object")
    return result


def decode_json(frame: bytes, max_bytes: int) -> Any:
    """A frame's JSON value, checked for size, UTF-8, syntax, NaN and duplicate keys."""
    if not isinstance(frame, bytes | bytearray | memoryview):
        raise TypeError(f"frame must be bytes, got {type(frame).__name__}")
    if len(frame) > max_bytes:
        raise ProtocolError(f"frame of {len(frame)} bytes is over the limit of {max_bytes}")
    try:
        text = bytes(frame).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError(f"frame is not UTF-8 text (byte {error.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        raise ProtocolError(f"frame is not JSON: {error.msg} at character {error.pos}") from None
    except RecursionError:
        raise ProtocolError("frame nests too deeply") from None


def parse_request(frame: bytes, max_bytes: int) -> Request:
    """The request in ``frame``; ProtocolError (with the reason) for anything else."""
    return check_request(decode_json(frame, max_bytes))


def check_request(data: Any) -> Request:
    """The request ``data`` (a decoded JSON value, or one built by a bridge) stands for;
    ProtocolError with the same reasons as :func:`parse_request` otherwise."""
    if not isinstance(data, dict):
        raise ProtocolError(
            f'a request must be a JSON object like {{"cmd": "ping"}}, got {_json_type(type(data))}'
        )
    data = without_version(data, "request")
    if "cmd" not in data:
        raise ProtocolError(f'a request needs "cmd"; commands: {", ".join(COMMANDS)}')
    command = data["cmd"]
    if not isinstance(command, str):
        raise ProtocolError(f'"cmd" must be a string, got {_json_type(type(command))}')
    if command not in COMMANDS:
        raise ProtocolError(f"unknown command {_echo(command)}; commands: {', '.join(COMMANDS)}")
    spec = COMMANDS[command]
    params = {key: value for key, value in data.items() if key != "cmd"}
    for key in params:
        if key not in spec.params:
            allowed = ", ".join(spec.params) or "none"
            raise ProtocolError(f"{command}: unknown key {_echo(key)}; keys: {allowed}")
    for key, param in spec.params.items():
        if key in params:
            param.check(command, key, params[key])
        elif param.required:
            raise ProtocolError(f"{command} needs '{key}' ({param.doc})")
    return Request(command, params)


def positional_params(command: str, values: list[Any]) -> dict[str, Any]:
    """``command``'s parameters from values given in order (a command line, an OSC message);
    ProtocolError for too many. Unknown commands and the values are for check_request."""
    names = list(COMMANDS[command].params) if command in COMMANDS else []
    if len(values) > len(names):
        usage = " ".join(names) or "no arguments"
        raise ProtocolError(f"{command} takes {usage}; got {len(values)} arguments")
    return dict(zip(names, values, strict=False))


def _encode(data: Mapping[str, Any]) -> bytes:
    # ASCII with escapes: any str, even one holding a lone surrogate, encodes
    return json.dumps(data, separators=(",", ":"), allow_nan=False).encode("ascii")


def without_version(data: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``data`` (a decoded ``what``: request, reply or event) without its protocol version;
    ProtocolError when that version is not :data:`PROTOCOL_VERSION` (none is UNVERSIONED)."""
    version = data.get(VERSION_KEY, UNVERSIONED)
    if type(version) is not int:  # a bool is no version either
        raise ProtocolError(f'"{VERSION_KEY}" must be an integer, got {_json_type(type(version))}')
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"the {what} is in protocol version {_echo(version)}; this side speaks only version "
            f"{PROTOCOL_VERSION} (run the same liveimpro release on both sides)"
        )
    return {key: value for key, value in data.items() if key != VERSION_KEY}


def with_version(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with this side's protocol version first; ValueError if it holds a version."""
    if VERSION_KEY in data:
        raise ValueError(f"'{VERSION_KEY}' is the envelope's own key")
    return {VERSION_KEY: PROTOCOL_VERSION, **data}


def encode_request(request: Request) -> bytes:
    """The frame for ``request``; ``parse_request`` gives it back."""
    if "cmd" in request.params:
        raise ValueError("a parameter cannot be named 'cmd'")
    return _encode(with_version({"cmd": request.cmd, **request.params}))


def encode_reply(reply: Mapping[str, Any]) -> bytes:
    """The frame for a reply: a mapping with ``ok`` (and ``error`` when not ok)."""
    _check_reply(reply)
    return _encode(with_version(reply))


def parse_reply(frame: bytes, max_bytes: int) -> dict[str, Any]:
    """The reply in ``frame``; ProtocolError when it is none, or in another version."""
    reply = decode_json(frame, max_bytes)
    if isinstance(reply, dict):
        reply = without_version(reply, "reply")
    _check_reply(reply)
    return reply


def error_reply(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


def _check_reply(reply: Any) -> None:
    if not isinstance(reply, Mapping) or not isinstance(reply.get("ok"), bool):
        raise ProtocolError('a reply must be a JSON object with a boolean "ok"')
    if not reply["ok"] and not isinstance(reply.get("error"), str):
        raise ProtocolError('a reply with "ok": false needs an "error" string')
