"""Events on the PUB socket: ``TOPIC {json}``, each stamped with a monotonic time and a number.

A frame is the topic, a space and a JSON object holding the protocol version (``protocol``,
as every control frame does; :func:`decode_event` checks and drops it), ``event`` (the topic
again), ``time`` (time.monotonic() seconds when it happened), ``seq`` and ``run`` besides the
event's own fields, so a subscriber filters by topic prefix (ZeroMQ's SUBSCRIBE) and still
reads plain JSON.

``seq`` counts the events of its topic in this run of the daemon: 0 for the first ``tick``,
1 for the next, whatever was published on other topics between them. A sequence per topic,
not one across all topics, because a subscriber filters by topic: what it filtered out must
not look lost. ``run`` is a random name of the daemon's run, so a restart (every ``seq``
from 0 again) is never taken for a loss. :class:`GapCounter` tells a subscriber, event by
event, which events of the same topic it missed; what was published before its subscription
reached the daemon (ZeroMQ's slow joiner) does not count: counting starts at the first event
of each topic it receives in a run.

:class:`EventPublisher` owns the PUB socket in a thread of its own; ``emit`` only puts the
event on a queue, so the real-time loop never waits on the network.
"""

from __future__ import annotations

import contextlib
import json
import queue
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import zmq

from liveimpro.control.protocol import VERSION_KEY, with_version, without_version

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


# What every event holds besides its own fields (the protocol version is dropped on decoding).
ENVELOPE_KEYS = ("event", "time", "seq", "run")
MISSED = "missed"  # no daemon topic: a client's note that events were lost before this one


def encode_event(
    topic: str, when: float, fields: Mapping[str, Any], *, seq: int, run: str
) -> bytes:
    """The frame of the ``seq``-th event of ``topic`` in the daemon's run ``run``."""
    check_topic(topic)
    clash = set(fields) & {*ENVELOPE_KEYS, VERSION_KEY}
    if clash:
        raise ValueError(f"an event field cannot be named {', '.join(sorted(clash))}")
    envelope = {"event": topic, "time": when, "seq": seq, "run": run, **fields}
    body = json.dumps(with_version(envelope), separators=(",", ":"))
    return f"{topic} {body}".encode("ascii")


def decode_event(frame: bytes) -> dict[str, Any]:
    """The JSON object of an event frame (its ``event`` field is the topic), without the
    protocol version; ValueError (a ProtocolError for another version) if it is none."""
    topic, _, body = frame.decode("ascii").partition(" ")
    event = json.loads(body)
    if not isinstance(event, dict) or event.get("event") != topic:
        raise ValueError(f"not an event frame: {frame[:60]!r}")
    return without_version(event, "event")


@dataclass(frozen=True)
class Gap:
    """Events of ``topic`` published but never received: seq ``first`` to ``first + count - 1``."""

    topic: str
    first: int
    count: int

    def describe(self) -> str:
        numbers = f"seq {self.first}" if self.count == 1 else f"seq {self.first} to {self.last}"
        return f"missed {self.count} {self.topic} event{'s' * (self.count > 1)} ({numbers})"

    @property
    def last(self) -> int:
        return self.first + self.count - 1

    def as_event(self) -> dict[str, Any]:
        """The gap as a client-side ``missed`` event, for bridges that pass events on."""
        return {
            "event": MISSED,
            "topic": self.topic,
            "first": self.first,
            "count": self.count,
            "message": self.describe(),
        }


class GapCounter:
    """Follows the ``seq`` of each topic in a subscriber's events; ``missed`` counts the
    events lost so far. Events without ``seq`` and ``run`` (made by hand) are let be."""

    def __init__(self) -> None:
        self.missed = 0
        self._run: str | None = None
        self._next: dict[str, int] = {}  # topic -> the seq expected next

    def check(self, event: Mapping[str, Any]) -> Gap | None:
        """The events of ``event``'s topic missed just before it; None when none were."""
        topic, seq, run = event.get("event"), event.get("seq"), event.get("run")
        if type(seq) is not int or not isinstance(run, str) or not isinstance(topic, str):
            return None
        if run != self._run:  # a new run: its numbers start again, from what we see first
            self._run = run
            self._next = {}
        expected = self._next.get(topic, seq)
        self._next[topic] = seq + 1
        if seq <= expected:
            return None
        self.missed += seq - expected
        return Gap(topic, expected, seq - expected)


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
        self.run_id = secrets.token_hex(4)  # tells this run's numbers from a restart's
        self._sent: dict[str, int] = {}  # topic -> events numbered so far, in the thread
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
            topic, when, fields = event
            # numbered here, in one thread, in the order sent: emit may come from any thread
            seq = self._sent.get(topic, 0)
            self._sent[topic] = seq + 1
            frame = encode_event(topic, when, fields, seq=seq, run=self.run_id)
            # when no subscriber keeps up, events are dropped (a gap in seq), never waited for
            with contextlib.suppress(zmq.Again):
                self._socket.send(frame, zmq.NOBLOCK)
