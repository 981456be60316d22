"""A Python client for the daemon's control plane (exported as ``liveimpro.Client``).

    from liveimpro import Client

    with Client(timeout=1.0) as daemon:
        daemon.set("temperature", 0.8)
        print(daemon.status()["counters"])
        with daemon.subscribe("response_") as events:
            print(events.receive(timeout=10.0))
            print(events.missed)  # events lost on the way (their seq never arrived)

Every request carries the protocol version (liveimpro.control.protocol); a daemon speaking
another refuses it with one line. Every request waits at most ``timeout`` seconds: with no
daemon listening it raises :class:`NoReply` instead of hanging. A request the daemon refuses
raises :class:`ControlError` with the daemon's message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import zmq

from liveimpro.config.settings import ControlSettings
from liveimpro.control.events import Gap, GapCounter, decode_event
from liveimpro.control.keys import KeyFileError, read_key_pair
from liveimpro.control.protocol import Request, encode_request, parse_reply
from liveimpro.errors import SettingValueError, UserError

MAX_REPLY_BYTES = 1 << 20
DEFAULTS = ControlSettings()
DEFAULT_TIMEOUT_S = 2.0


class ControlError(UserError, RuntimeError):
    """The daemon refused a request; the message is its reason."""


class NoReply(ControlError, TimeoutError):
    """No reply in time: no daemon there, control off, or keys it does not accept."""


class CurveKeys:
    """A client's CURVE key pair and the daemon's public key, read from liveimpro keygen files."""

    def __init__(self, client_secret_key: str | Path, server_public_key: str | Path) -> None:
        self.public, self.secret = read_key_pair(client_secret_key)
        if self.secret is None:
            raise KeyFileError(f"{client_secret_key} holds no secret key (use NAME.key_secret)")
        self.server, _ = read_key_pair(server_public_key)

    @classmethod
    def from_settings(cls, settings: ControlSettings) -> CurveKeys | None:
        """The keys control.client_secret_key and control.server_public_key name, if set."""
        if not settings.client_secret_key:
            return None
        return cls(settings.client_secret_key, settings.server_public_key)

    def apply(self, socket: zmq.Socket) -> None:
        socket.curve_secretkey = self.secret
        socket.curve_publickey = self.public
        socket.curve_serverkey = self.server


class Client:
    """Requests to the daemon at ``address``; events from ``events``."""

    def __init__(
        self,
        address: str = DEFAULTS.address,
        *,
        events: str = DEFAULTS.events,
        timeout: float = DEFAULT_TIMEOUT_S,
        keys: CurveKeys | None = None,
    ) -> None:
        if not timeout > 0:
            raise SettingValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.address = address
        self.events_address = events
        self.timeout = timeout
        self.keys = keys
        self._context = zmq.Context()
        self._socket = self._connect(zmq.REQ, address)
        # After a timeout the next request may go out at once; a late reply is dropped.
        self._socket.setsockopt(zmq.REQ_RELAXED, 1)
        self._socket.setsockopt(zmq.REQ_CORRELATE, 1)

    @classmethod
    def from_settings(cls, settings: ControlSettings, timeout: float = DEFAULT_TIMEOUT_S) -> Client:
        """A client of the daemon that ``settings`` (its [control] section) describe."""
        keys = CurveKeys.from_settings(settings)
        return cls(settings.address, events=settings.events, timeout=timeout, keys=keys)

    def request(self, cmd: str, **params: Any) -> dict[str, Any]:
        """The daemon's reply to ``cmd``; ControlError if it refuses, NoReply if it is silent."""
        frame = encode_request(Request(cmd, params))
        try:
            self._socket.send(frame)  # waits while no connection is up (sndtimeo bounds it)
        except zmq.Again:
            raise self._no_reply() from None
        if not self._socket.poll(self.timeout * 1000):
            raise self._no_reply()
        reply = parse_reply(self._socket.recv(), MAX_REPLY_BYTES)
        if not reply["ok"]:
            raise ControlError(reply["error"])
        return reply

    def _no_reply(self) -> NoReply:
        return NoReply(
            f"no reply from {self.address} within {self.timeout:g} s: is `liveimpro run` "
            "running there with control enabled (and these keys allowed)?"
        )

    def ping(self) -> dict[str, Any]:
        return self.request("ping")

    def status(self) -> dict[str, Any]:
        return self.request("status")

    def get(self, name: str | None = None) -> Any:
        """One parameter's value, or a dict of all of them."""
        if name is None:
            return self.request("get")["parameters"]
        return self.request("get", name=name)["value"]

    def set(self, name: str, value: Any) -> Any:
        """Set a parameter; returns the value as the daemon took it."""
        return self.request("set", name=name, value=value)["value"]

    def panic(self) -> None:
        self.request("panic")

    def mute(self) -> None:
        self.request("mute")

    def unmute(self) -> None:
        self.request("unmute")

    def loop(self) -> None:
        self.request("loop")

    def mutate(self) -> None:
        self.request("mutate")

    def models(self) -> list[str]:
        return self.request("models")["models"]

    def load_model(self, name: str) -> dict[str, Any]:
        return self.request("load_model", name=name)

    def subscribe(self, *topics: str) -> Subscription:
        """Events whose topic starts with one of ``topics`` (none: every event)."""
        return Subscription(self._connect(zmq.SUB, self.events_address), topics or ("",))

    def close(self) -> None:
        self._socket.close(linger=0)
        self._context.term()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connect(self, kind: int, address: str) -> zmq.Socket:
        socket = self._context.socket(kind)
        socket.linger = 0
        socket.sndtimeo = round(self.timeout * 1000)
        if self.keys is not None:
            self.keys.apply(socket)
        socket.connect(address)
        return socket


class Subscription:
    """A SUB socket's events; close it (or use ``with``) before the client.

    ``missed`` counts the events of the subscribed topics that were published but never
    received (by their ``seq``, liveimpro.control.events); after each ``receive``, ``gap``
    is the :class:`Gap` of those missed just before the event it returned, or None.
    """

    def __init__(self, socket: zmq.Socket, topics: tuple[str, ...]) -> None:
        self._socket = socket
        self._gaps = GapCounter()
        self.gap: Gap | None = None
        for topic in topics:
            socket.subscribe(topic)

    @property
    def missed(self) -> int:
        return self._gaps.missed

    def receive(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next event, waiting up to ``timeout`` seconds (None: forever); None if none."""
        self.gap = None
        if not self._socket.poll(None if timeout is None else timeout * 1000):
            return None
        event = decode_event(self._socket.recv())
        self.gap = self._gaps.check(event)
        return event

    def close(self) -> None:
        self._socket.close(linger=0)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
