"""The daemon's ready line: the one line of its output that programs read.

    liveimpro ready {"input":"...","output":"...","model":"folk","control":"tcp://127.0.0.1:5555",
                     "events":"tcp://127.0.0.1:5556","protocol":1}

``liveimpro run`` prints it once, on one line, when both MIDI ports are open and the control
plane listens (``control`` and ``events`` are null with control off), before the human line,
which may change; this one changes only with the protocol version. :func:`format_ready` and
:func:`parse_ready` are exact inverses.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import get_type_hints

from liveimpro.control.protocol import PROTOCOL_VERSION

READY_PREFIX = "liveimpro ready "


@dataclass(frozen=True)
class Ready:
    """What a ready daemon tells: its MIDI ports, model, control endpoints and protocol."""

    input: str
    output: str
    model: str
    control: str | None  # the command endpoint, with the port bound; None: control off
    events: str | None
    protocol: int = PROTOCOL_VERSION


FIELD_TYPES = get_type_hints(Ready)  # name -> type, checked on parsing


def format_ready(ready: Ready) -> str:
    """The ready line for ``ready`` (no newline); JSON with escapes keeps it one ASCII line."""
    return READY_PREFIX + json.dumps(dataclasses.asdict(ready), separators=(",", ":"))


def parse_ready(line: str) -> Ready | None:
    """The Ready a ready line holds (a trailing newline is fine); None for any other line,
    ValueError for a line that starts like one and is broken."""
    if not line.startswith(READY_PREFIX):
        return None
    data = json.loads(line[len(READY_PREFIX) :])  # a JSONDecodeError is a ValueError
    if not isinstance(data, dict) or set(data) != set(FIELD_TYPES):
        raise ValueError(f"a ready line holds an object with {', '.join(FIELD_TYPES)}: {line!r}")
    for key, kind in FIELD_TYPES.items():
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            raise ValueError(f"ready line: {key} must be {kind}, got {data[key]!r}")
    return Ready(**data)
