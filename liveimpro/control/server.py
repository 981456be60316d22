"""The control plane's sockets: a ROUTER answered from its own thread, and the PUB socket.

Binding anything but a loopback address is refused unless CurveZMQ is configured (a server
secret key and a folder of allowed client public keys): then every connection must prove
it holds an allowed key, or it gets no answer at all. A frame longer than
control.max_frame_bytes gets an error reply; one over HARD_LIMIT_FACTOR times that is
refused by ZeroMQ itself, which drops the connection, so nothing that size is ever held.
Whatever arrives, the control thread answers and lives on; it never touches real-time state
(liveimpro.control.commands queues the changes for the main loop). Clients are REQ sockets; the
server is a ROUTER, not a REP, so a reply that waits (load_model, until the model is
loaded) keeps no other client waiting: a panic is answered meanwhile.
"""

from __future__ import annotations

import ipaddress
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, NamedTuple

import zmq
from zmq.auth.thread import ThreadAuthenticator

from liveimpro.config.settings import ControlSettings
from liveimpro.control.commands import Controls
from liveimpro.control.events import EventPublisher, NoEvents
from liveimpro.control.keys import read_key_pair
from liveimpro.control.protocol import (
    ProtocolError,
    Request,
    encode_reply,
    error_reply,
    parse_request,
)
from liveimpro.errors import SettingValueError, UserError
from liveimpro.live.improviser import Improviser

HARD_LIMIT_FACTOR = 16  # frames over this many times max_frame_bytes are never received
POLL_MS = 100  # how often the control thread checks whether it should stop
WAITING_POLL_MS = 5  # how often it checks for a settled reply while one is waiting
LOOPBACK_NAMES = ("localhost", "lo")


def is_loopback(endpoint: str) -> bool:
    """Whether binding ``endpoint`` exposes nothing beyond this machine."""
    transport, _, where = endpoint.partition("://")
    if transport in ("ipc", "inproc"):
        return True
    if transport != "tcp":
        return False
    host = where.rpartition(":")[0].strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # an interface name or a wildcard: possibly every network


def check_exposure(settings: ControlSettings) -> None:
    """SettingValueError if a non-loopback endpoint would be bound without CURVE."""
    for key in ("address", "events"):
        endpoint = getattr(settings, key)
        if not is_loopback(endpoint) and not settings.server_secret_key:
            raise SettingValueError(
                f"control.{key} {endpoint} is not a loopback address: binding it needs "
                "CURVE (control.server_secret_key and control.client_public_keys; see "
                "liveimpro keygen)"
            )


def open_sockets(
    context: zmq.Context, settings: ControlSettings
) -> tuple[zmq.Socket, zmq.Socket, ThreadAuthenticator | None]:
    """The bound ROUTER and PUB sockets, and the authenticator that guards them with CURVE."""
    check_exposure(settings)
    sockets = [context.socket(zmq.ROUTER), context.socket(zmq.PUB)]
    authenticator = None
    try:
        for socket in sockets:
            socket.linger = 0
        sockets[0].setsockopt(zmq.MAXMSGSIZE, settings.max_frame_bytes * HARD_LIMIT_FACTOR)
        if settings.server_secret_key:
            authenticator = _guard(context, sockets, settings)
        for socket, key in zip(sockets, ("address", "events"), strict=True):
            _bind(socket, key, getattr(settings, key))
    except BaseException:
        for socket in sockets:
            socket.close()
        if authenticator is not None:
            authenticator.stop()
        raise
    return sockets[0], sockets[1], authenticator


class ControlBindError(UserError):
    """A control endpoint that cannot be bound, most often because something holds it."""


def _bind(socket: zmq.Socket, key: str, endpoint: str) -> None:
    try:
        socket.bind(endpoint)
    except zmq.ZMQError as error:
        # Playing on without it would let `liveimpro ctl` reach whatever holds the endpoint.
        raise ControlBindError(
            f"cannot bind control.{key} {endpoint}: {error.strerror} (another liveimpro run?); "
            f"stop what holds it, choose another control.{key}, or set control.enabled = false"
        ) from error


def _guard(
    context: zmq.Context, sockets: list[zmq.Socket], settings: ControlSettings
) -> ThreadAuthenticator:
    public, secret = read_key_pair(settings.server_secret_key)
    if secret is None:
        raise SettingValueError(
            f"control.server_secret_key {settings.server_secret_key} holds no secret"
        )
    allowed = Path(settings.client_public_keys).expanduser()
    if not allowed.is_dir():
        raise SettingValueError(f"control.client_public_keys {allowed} is not a folder")
    authenticator = ThreadAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(allowed))
    for socket in sockets:
        socket.curve_secretkey = secret
        socket.curve_publickey = public
        socket.curve_server = True
    return authenticator


class Deferred(NamedTuple):
    """A reply to ``cmd`` that comes later: a Future of it."""

    cmd: str
    reply: Future[dict[str, Any]]


def split_envelope(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """A ROUTER's frames as (the client's envelope, the request's frames).

    A REQ client's envelope ends with an empty delimiter frame.
    """
    if b"" in frames:
        end = frames.index(b"") + 1
        return frames[:end], frames[end:]
    return frames[:1], frames[1:]


class ControlServer:
    """Answers each request on ``socket`` (a bound ROUTER) with ``answer``, from its own thread.

    ``answer`` returns a reply, or a Future of one that is sent once it is settled.
    """

    def __init__(
        self,
        socket: zmq.Socket,
        answer: Callable[[Request], dict[str, Any] | Future[dict[str, Any]]],
        max_frame_bytes: int,
    ) -> None:
        self._socket = socket
        self._answer = answer
        self.max_frame_bytes = max_frame_bytes
        self.address = socket.getsockopt_string(zmq.LAST_ENDPOINT)  # with the port bound
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="liveimpro control", daemon=True)
        self._thread.start()

    def reply_to(self, frames: list[bytes]) -> bytes | Deferred:
        """The reply frame for a request's frames, or the reply to come; never raises."""
        if len(frames) != 1:
            return encode_reply(error_reply(f"a request is one frame, got {len(frames)}"))
        try:
            request = parse_request(frames[0], self.max_frame_bytes)
        except ProtocolError as error:
            return encode_reply(error_reply(str(error)))
        return self._reply(request.cmd, lambda: self._answer(request))

    @staticmethod
    def _reply(cmd: str, produce: Callable[[], Any]) -> bytes | Deferred:
        """What ``produce`` returns, encoded unless a Future; a bug becomes an internal error."""
        try:
            reply = produce()
            return Deferred(cmd, reply) if isinstance(reply, Future) else encode_reply(reply)
        except Exception as error:  # a bug must cost one reply, never the control thread
            traceback.print_exc()  # the daemon's log keeps where it happened
            return encode_reply(error_reply(f"{cmd}: internal error: {error!r}"))

    def close(self) -> None:
        self._stopping.set()
        self._thread.join()
        self._socket.close(linger=0)

    def _run(self) -> None:
        waiting: list[tuple[list[bytes], Deferred]] = []  # (the client's envelope, its reply)
        while not self._stopping.is_set():
            if self._socket.poll(WAITING_POLL_MS if waiting else POLL_MS):
                envelope, frames = split_envelope(self._socket.recv_multipart())
                reply = self.reply_to(frames)
                if isinstance(reply, Deferred):
                    waiting.append((envelope, reply))
                else:
                    self._socket.send_multipart([*envelope, reply])
            for entry in [entry for entry in waiting if entry[1].reply.done()]:
                waiting.remove(entry)
                envelope, (cmd, reply) = entry
                self._socket.send_multipart([*envelope, self._reply(cmd, reply.result)])


class ControlPlane:
    """The daemon's live control: Controls for the main loop, plus, with control enabled,
    the command server and the event publisher. An endpoint that cannot be bound (taken by
    another daemon, say) and an exposed address without CURVE both stop the daemon.
    """

    def __init__(self, settings: ControlSettings, improviser: Improviser, model_name: str) -> None:
        self._context: zmq.Context | None = None
        self._authenticator: ThreadAuthenticator | None = None
        self._publisher: EventPublisher | None = None
        self._server: ControlServer | None = None
        self.summary = "control off"  # for the daemon's human line
        self.address: str | None = None  # the bound endpoints, for its ready line
        self.events_address: str | None = None
        rep = self._open(settings) if settings.enabled else None
        self.controls = Controls(improviser, self._publisher or NoEvents(), model_name)
        if rep is not None:
            self._server = ControlServer(rep, self.controls.answer, settings.max_frame_bytes)
            self.address, self.events_address = self._server.address, self._publisher.address
            self.summary = f"control on {self.address}, events on {self.events_address}"

    def _open(self, settings: ControlSettings) -> zmq.Socket:
        self._context = zmq.Context()
        try:
            rep, pub, self._authenticator = open_sockets(self._context, settings)
        except BaseException:
            self._context.term()
            raise
        self._publisher = EventPublisher(pub)
        return rep

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._publisher is not None:
            self._publisher.close()
        if self._authenticator is not None:
            self._authenticator.stop()
        self.controls.close()
        if self._context is not None:
            self._context.term()

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
