"""Event frames: topic, then JSON with the topic and a monotonic time; published off-thread."""

from __future__ import annotations

import time

import pytest
import zmq

from liveimpro.control.events import EventPublisher, NoEvents, decode_event, encode_event


def test_a_frame_is_the_topic_then_json_and_decodes_back() -> None:
    frame = encode_event("phrase_end", 12.5, {"notes": 3, "beats": 1.5}, seq=7, run="r1")
    assert frame.startswith(b"phrase_end {")
    assert decode_event(frame) == {
        "event": "phrase_end",
        "time": 12.5,
        "seq": 7,
        "run": "r1",
        "notes": 3,
        "beats": 1.5,
    }


def test_unknown_topics_are_refused_even_with_nobody_listening() -> None:
    with pytest.raises(ValueError, match="unknown event topic 'phrase_begin'"):
        encode_event("phrase_begin", 0.0, {}, seq=0, run="r1")
    with pytest.raises(ValueError, match="unknown event topic"):
        NoEvents().emit("phrase_begin")
    NoEvents().emit("warning", message="fine")


def test_the_publisher_stamps_and_sends_from_its_own_thread() -> None:
    context = zmq.Context()
    publisher_socket = context.socket(zmq.PUB)
    publisher_socket.bind("tcp://127.0.0.1:*")
    publisher = EventPublisher(publisher_socket)
    subscriber = context.socket(zmq.SUB)
    subscriber.connect(publisher.address)
    subscriber.subscribe("tempo")
    try:
        received = None
        for _ in range(100):  # until the subscription has reached the publisher
            before = time.monotonic()
            publisher.emit("warning", message="filtered out")
            publisher.emit("tempo", bpm=99.0)
            if subscriber.poll(50):
                received = decode_event(subscriber.recv())
                break
        assert received["event"] == "tempo" and received["bpm"] == 99.0
        assert before <= received["time"] <= time.monotonic()
    finally:
        subscriber.close(linger=0)
        publisher.close()
        context.term()
