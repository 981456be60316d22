"""The ``liveimpro ctl`` command: a command-line client of a running daemon.

    liveimpro ctl status
    liveimpro ctl set temperature 0.8
    liveimpro ctl panic
    liveimpro ctl watch [TOPIC ...]

A command's arguments fill its parameters in the order liveimpro.control.protocol lists them; a
value is read as JSON when it is JSON (0.8, true, 4) and as text otherwise (fixed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from liveimpro.cli.args import settings_from_args
from liveimpro.control.protocol import COMMANDS, ProtocolError, positional_params
from liveimpro.errors import UsageError

WATCH = "watch"


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Add ``ctl`` to the ``liveimpro`` command line."""
    listing = ", ".join([*COMMANDS, WATCH])
    ctl = commands.add_parser(
        "ctl", help="control a running daemon", description=f"commands: {listing}"
    )
    ctl.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="settings file")
    ctl.add_argument("--address", help="command socket (default: control.address)")
    ctl.add_argument("--events", help="event socket (default: control.events)")
    ctl.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a reply")
    ctl.add_argument("--count", type=int, default=None, help="watch: stop after this many events")
    ctl.add_argument("cmd", choices=[*COMMANDS, WATCH], metavar="COMMAND", help=listing)
    ctl.add_argument("args", nargs="*", metavar="ARG", help="the command's parameters, in order")
    ctl.set_defaults(run=cmd_ctl)


def parse_value(text: str) -> Any:
    """``text`` as a JSON scalar if it is one, else as a string."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, bool | int | float | str) else text


def request_params(cmd: str, args: list[str]) -> dict[str, Any]:
    """The parameters for ``cmd`` from positional arguments, in the spec's order."""
    try:
        return positional_params(cmd, [parse_value(arg) for arg in args])
    except ProtocolError as error:
        raise UsageError(f"ctl {error}") from None


def cmd_ctl(args: argparse.Namespace) -> int:
    from liveimpro.control.client import Client, CurveKeys

    settings = settings_from_args(args).control
    address = args.address or settings.address
    events = args.events or settings.events
    keys = CurveKeys.from_settings(settings)
    # A refused request or no reply (ControlError) is a user error: one line, exit 2.
    with Client(address, events=events, timeout=args.timeout, keys=keys) as daemon:
        if args.cmd == WATCH:
            return watch(daemon, args.args, args.count)
        reply = daemon.request(args.cmd, **request_params(args.cmd, args.args))
    reply.pop("ok")
    print(json.dumps(reply, indent=2) if reply else "ok")
    return 0


def watch(daemon: Any, topics: list[str], count: int | None) -> int:
    """Print events as JSON lines until ``count`` of them (None: until interrupted); a line
    on stderr says when events were missed (stdout stays JSON)."""
    with daemon.subscribe(*topics) as events:
        seen = 0
        try:
            while count is None or seen < count:
                event = events.receive()
                if events.gap is not None:
                    print(f"liveimpro ctl: {events.gap.describe()}", file=sys.stderr, flush=True)
                print(json.dumps(event), flush=True)
                seen += 1
        except KeyboardInterrupt:
            pass
    return 0
