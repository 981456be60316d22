"""A ControlServer answering for a ControlRig on ephemeral loopback ports (no daemon)."""

from __future__ import annotations

import zmq

from liveimpro.config.settings import ControlSettings
from liveimpro.control.server import ControlServer, open_sockets
from tests.controlrig import ControlRig

CAP = 4096
EPHEMERAL = {"address": "tcp://127.0.0.1:*", "events": "tcp://127.0.0.1:*"}
REPLY_TIMEOUT_MS = 5000


class Served:
    """A ControlServer answering for a ControlRig, on ephemeral loopback ports."""

    def __init__(self, rig: ControlRig, **control) -> None:
        self.rig = rig
        self.settings = ControlSettings(**{**EPHEMERAL, "max_frame_bytes": CAP, **control})
        self.context = zmq.Context()
        rep, self.pub, self.authenticator = open_sockets(self.context, self.settings)
        self.server = ControlServer(rep, rig.controls.answer, CAP)
        self.events_address = self.pub.getsockopt_string(zmq.LAST_ENDPOINT)

    def raw_socket(self) -> zmq.Socket:
        socket = self.context.socket(zmq.REQ)
        socket.linger = 0
        socket.rcvtimeo = REPLY_TIMEOUT_MS
        socket.connect(self.server.address)
        return socket

    def close(self) -> None:
        self.server.close()
        self.pub.close()
        if self.authenticator is not None:
            self.authenticator.stop()
        self.context.term()
