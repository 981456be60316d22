"""Each event carries its topic's number in the daemon's run; a subscriber tells what it missed."""

from __future__ import annotations

import json
import queue
from collections import deque

import zmq

from liveimpro.cli.ctl import watch
from liveimpro.config.settings import ControlSettings
from liveimpro.control.client import Subscription
from liveimpro.control.daemonlink import DaemonLink
from liveimpro.control.events import (
    MISSED,
    EventPublisher,
    Gap,
    GapCounter,
    decode_event,
    encode_event,
)

WAIT_S = 10.0


def event(topic: str, seq: int, run: str = "a") -> dict:
    return {"event": topic, "time": 0.0, "seq": seq, "run": run}


def test_each_topic_counts_on_its_own_so_filtered_topics_are_no_gaps() -> None:
    gaps = GapCounter()
    seen = [event("tick", 4), event("note", 9), event("tick", 5), event("note", 10)]
    assert [gaps.check(each) for each in seen] == [None] * 4
    assert gaps.missed == 0


def test_a_gap_names_the_topic_and_the_numbers_that_never_came() -> None:
    gaps = GapCounter()
    assert gaps.check(event("note", 0)) is None
    assert gaps.check(event("tick", 3)) is None
    assert gaps.check(event("note", 4)) == Gap("note", 1, 3)
    assert gaps.check(event("note", 6)) == Gap("note", 5, 1)
    assert gaps.missed == 4
    assert Gap("note", 1, 3).describe() == "missed 3 note events (seq 1 to 3)"
    assert Gap("tick", 5, 1).describe() == "missed 1 tick event (seq 5)"


def test_a_new_run_starts_counting_again_and_hand_made_events_are_let_be() -> None:
    gaps = GapCounter()
    assert gaps.check(event("tick", 40, run="a")) is None
    assert gaps.check(event("tick", 2, run="b")) is None  # a restart, not a loss
    assert gaps.check(event("tick", 3, run="b")) is None
    assert gaps.check(event("tick", 60, run="c")) is None  # a later restart, first seen at 60
    assert gaps.check({"event": "warning", "time": 0, "message": "hi"}) is None
    assert gaps.missed == 0


class RecordingSocket:
    """A PUB socket's stand-in: keeps what is sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def getsockopt_string(self, option: int) -> str:
        return "inproc://recorded"

    def send(self, frame: bytes, flags: int = 0) -> None:
        self.sent.append(frame)

    def close(self, linger: int | None = None) -> None:
        pass


class ReplayingSocket:
    """A SUB socket's stand-in: hands out the given frames, then has none."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = deque(frames)
        self.topics: list[str] = []

    def subscribe(self, topic: str) -> None:
        self.topics.append(topic)

    def poll(self, timeout: float | None = None) -> int:
        return len(self.frames)

    def recv(self) -> bytes:
        return self.frames.popleft()

    def close(self, linger: int | None = None) -> None:
        pass


def published(topics: list[str]) -> list[bytes]:
    """The frames an EventPublisher sends for events of ``topics``, in order."""
    socket = RecordingSocket()
    publisher = EventPublisher(socket)
    for topic in topics:
        publisher.emit(topic)
    publisher.close()  # sends what is queued
    return socket.sent


def test_the_publisher_numbers_each_topic_from_0_in_one_run() -> None:
    events = [decode_event(frame) for frame in published(["tick", "note", "tick", "note", "tick"])]
    assert [(each["event"], each["seq"]) for each in events] == [
        ("tick", 0),
        ("note", 0),
        ("tick", 1),
        ("note", 1),
        ("tick", 2),
    ]
    assert len({each["run"] for each in events}) == 1


def test_a_subscription_counts_what_never_arrived() -> None:
    frames = published(["tick", "note", "tick", "tick", "note", "tick"])
    lost = {2, 3}  # the second and third tick
    arrived = [frame for index, frame in enumerate(frames) if index not in lost]
    with Subscription(ReplayingSocket(arrived), ("",)) as events:
        gaps = []
        while (received := events.receive(timeout=0)) is not None:
            gaps.append((received["event"], events.gap))
        assert events.receive(timeout=0) is None and events.gap is None
        assert events.missed == 2
    assert gaps == [("tick", None), ("note", None), ("note", None), ("tick", Gap("tick", 1, 2))]


class ReplayingDaemon:
    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames

    def subscribe(self, *topics: str) -> Subscription:
        return Subscription(ReplayingSocket(self.frames), topics)


def test_ctl_watch_says_on_stderr_when_events_were_missed(capsys) -> None:
    frames = [encode_event("tempo", 0.0, {"bpm": 90 + seq}, seq=seq, run="r") for seq in range(4)]
    assert watch(ReplayingDaemon([frames[0], frames[3]]), ["tempo"], count=2) == 0
    printed = capsys.readouterr()
    assert [decode_event(frame) for frame in (frames[0], frames[3])] == [
        json.loads(line) for line in printed.out.splitlines()
    ]
    assert printed.err == "liveimpro ctl: missed 2 tempo events (seq 1 to 2)\n"


def test_a_daemon_link_passes_a_missed_event_on_before_the_event_after_a_loss() -> None:
    context = zmq.Context()
    pub = context.socket(zmq.PUB)
    pub.bind("tcp://127.0.0.1:*")
    router = context.socket(zmq.ROUTER)  # a daemon that never answers: status stays None
    router.bind("tcp://127.0.0.1:*")
    settings = ControlSettings(
        address=router.getsockopt_string(zmq.LAST_ENDPOINT),
        events=pub.getsockopt_string(zmq.LAST_ENDPOINT),
    )
    statuses: queue.Queue = queue.Queue()
    events: queue.Queue = queue.Queue()
    link = DaemonLink(settings, statuses.put, events.put, poll_interval=0.05, timeout=0.1)
    first = encode_event("warning", 0.0, {"message": "hi"}, seq=0, run="r")
    try:
        while events.empty():  # until the subscription has reached the publisher
            pub.send(first)
            statuses.get(timeout=WAIT_S)  # a poll's time
        pub.send(encode_event("warning", 0.0, {"message": "later"}, seq=5, run="r"))
        passed = events.get(timeout=WAIT_S)
        while passed["event"] == "warning" and passed["seq"] == 0:  # the repeats of the first
            passed = events.get(timeout=WAIT_S)
        assert passed == {
            "event": MISSED,
            "topic": "warning",
            "first": 1,
            "count": 4,
            "message": "missed 4 warning events (seq 1 to 4)",
        }
        assert events.get(timeout=WAIT_S)["message"] == "later"
    finally:
        link.close()
        pub.close(linger=0)
        router.close(linger=0)
        context.term()
