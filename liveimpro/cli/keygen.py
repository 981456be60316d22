"""The ``liveimpro keygen`` command: a CurveZMQ key pair for the control plane."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Add ``keygen`` to the ``liveimpro`` command line."""
    keygen = commands.add_parser(
        "keygen", help="create a CurveZMQ key pair: NAME.key (public) and NAME.key_secret"
    )
    keygen.add_argument("name", help="file name of the pair, e.g. server or a client's name")
    keygen.add_argument("--dir", type=Path, default=Path("."), help="folder to write into")
    keygen.set_defaults(run=cmd_keygen)


def cmd_keygen(args: argparse.Namespace) -> int:
    from liveimpro.control.keys import create_key_pair

    public, secret = create_key_pair(args.dir, args.name)
    print(f"wrote {public} (public: hand it out) and {secret} (secret: keep it)")
    return 0
