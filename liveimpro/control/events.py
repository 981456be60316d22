"""Events on the PUB socket: ``TOPIC {json}``, each stamped with a monotonic time.

A frame is the topic, a space and a JSON object holding ``event`` (the topic again) and
``time`` (time.monotonic() seconds when it happened) besides the event's own fields, so a
subscriber filters by topic prefix (ZeroMQ's SUBSCRIBE) and still reads plain JSON.

:class:`EventPublisher` owns the PUB socket in a thread of its own; ``emit`` only puts the
event on a queue, so the real-time loop never waits on the network.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from typing import Any, Protocol

import zmq

TOPICS = {
    "phrase_start": "the performer began a phrase (tick)",
    "phrase_end": "the phrase is over (tick, notes, beats; or tick, dropped)",
    "response_start": "an answer, loop or mutation began (kind, tick, beats, latency_ms)",
    "response_end": "it ended or was stopped (kind, notes, tick: where it ended)",
    "note": "a note-on (velocity > 0) or note-off of the phrase or the answer, as heard or"
    " queued (tick, pitch, velocity, source: phrase or answer)",
    "tick": "the clock reached a new beat (tick, bpm)",
    "param_changed": "a parameter took its new value (name, value, source)",
    "tempo": "the tempo changed (bpm)",
    "clock_start": "the clock started rolling (source)",
    "clock_stop": "the clock stopped (source)",
    "model_changed": "another model now answers (model)",
    "action": "panic, mute, unmute, loop or mutate was applied (name, source)",
    "warning": "something was refused or postponed (message)",
    "error": "something failed (message)",
}


def check_topic(topic: str) -> None:
    if topic not in TOPICS:
        raise ValueError(f"unknown event topic {topic!r}; topics: {', '.join(TOPICS)}")


def encode_event(topic: str, when: float, fields: dict[str, Any]) -> bytes:
    check_topic(topic)
    body = json.dumps({"event": topic, "time": when, **fields}, separators=(",", ":"))
    return f"{topic} {body}".encode("ascii")


def decode_event(frame: bytes) -> dict[str, Any]:
    """The JSON object of an event frame (its ``event`` field is the topic)."""
    topic, _, body = frame.decode("ascii").partition(" ")
    event = json.loads(body)
    if not isinstance(event, dict) or event.get("event") != topic:
        raise ValueError(f"not an event frame: {frame[:60]!r}")
    return event


class EventSink(Protocol):
    def emit(self, topic: str, **fields: Any) -> None: ...


class NoEvents:
    """The sink while nobody can subscribe (control off): checks the topic, sends nothing."""

    def emit(self, topic: str, **fields: Any) -> None:
        check_topic(topic)


class EventPublisher:
    """Publishes emitted events on ``socket`` (a bound PUB) from its own thread."""

    def __init__(self, socket: zmq.Socket) -> None:
        self._socket = socket
        self.address = socket.getsockopt_string(zmq.LAST_ENDPOINT)
        # (topic, time, fields), encoded in the thread: the caller only stamps and queues
        self._queue: queue.SimpleQueue[tuple[str, float, dict] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="liveimpro events", daemon=True)
        self._thread.start()

    def emit(self, topic: str, **fields: Any) -> None:
        """Publish an event; never blocks. Safe from any thread."""
        check_topic(topic)
        self._queue.put((topic, time.monotonic(), fields))

    def close(self) -> None:
        """Send what is queued, stop the thread and close the socket."""
        self._queue.put(None)
        self._thread.join()
        self._socket.close(linger=0)

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            # when no subscriber keeps up, events are dropped, never waited for
            with contextlib.suppress(zmq.Again):
                self._socket.send(encode_event(*event), zmq.NOBLOCK)
