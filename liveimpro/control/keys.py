"""CurveZMQ key files: made by ``liveimpro keygen``, read by the daemon and its clients.

``NAME.key`` holds a public key, to hand out; ``NAME.key_secret`` holds the pair, to keep.
The daemon needs its own ``.key_secret`` and a folder holding the ``.key`` of each client
it lets in; a client needs its own ``.key_secret`` and the daemon's ``.key``.
"""

from __future__ import annotations

from pathlib import Path

import zmq.auth

from liveimpro.errors import UserError


class KeyFileError(UserError, ValueError):
    """A key file that is missing, unreadable or would be overwritten."""


def create_key_pair(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Write NAME.key and NAME.key_secret into ``directory``; never overwrites."""
    directory = Path(directory).expanduser()
    if not name or "/" in name or name.startswith("."):
        raise KeyFileError(f"key name must be a plain file name, got {name!r}")
    public, secret = directory / f"{name}.key", directory / f"{name}.key_secret"
    for path in (public, secret):
        if path.exists():
            raise KeyFileError(f"{path} exists; remove it or choose another name")
    directory.mkdir(parents=True, exist_ok=True)
    written_public, written_secret = zmq.auth.create_certificates(directory, name)
    Path(written_secret).chmod(0o600)
    return Path(written_public), Path(written_secret)


def read_key_pair(path: str | Path) -> tuple[bytes, bytes | None]:
    """(public, secret) from a key file; secret is None in a public ``.key`` file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise KeyFileError(f"no key file {path}")
    try:
        return zmq.auth.load_certificate(path)
    except (ValueError, OSError) as error:
        raise KeyFileError(f"{path} is no CURVE key file: {error}") from error
