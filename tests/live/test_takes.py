"""Takes: recorded as played, replayed from another start, cut where they stopped."""

from __future__ import annotations

import pytest

from liveimpro.config.settings import NotesSettings, SamplingSettings
from liveimpro.core.continuation import build_continuation
from liveimpro.core.modelfile import load_model
from liveimpro.live.takes import Replay, Take, TakeRecorder
from liveimpro.music.vocabulary import NoteEvent


@pytest.fixture
def continuation(random_model_dir):
    continuation = build_continuation(
        load_model(random_model_dir), SamplingSettings(seed=2), NotesSettings(), ticks_per_bar=96
    )
    continuation.start(0)
    return continuation


def take_of(continuation, start: int = 0, length: int = 96) -> Take:
    primed = continuation.snapshot()
    return Take("answer", start, length, lambda v: v, continuation, primed, 0.0)


def test_the_recorder_keeps_what_it_plays_relative_to_the_start(continuation) -> None:
    take = take_of(continuation, start=48)
    recorder = TakeRecorder(continuation, take)
    recorder.advance_to(48)
    played = recorder.generate_until(100) + recorder.generate_until(144)
    played += recorder.release_all(144)
    assert played and take.events == [
        NoteEvent(event.tick - 48, event.pitch, event.velocity) for event in played
    ]


def test_a_replay_plays_the_same_events_from_its_own_start(continuation) -> None:
    take = take_of(continuation)
    recorder = TakeRecorder(continuation, take)
    original = recorder.generate_until(96) + recorder.release_all(96)
    replay = Replay(take)
    replay.advance_to(960)
    again = replay.generate_until(1000) + replay.generate_until(1056) + replay.release_all(1056)
    assert again == [NoteEvent(e.tick + 960, e.pitch, e.velocity) for e in original]


def test_a_replay_ends_the_notes_it_left_sounding() -> None:
    take = Take("answer", 0, 96, lambda v: v, None, None, 0.0, [NoteEvent(10, 60, 90)])
    replay = Replay(take)
    replay.advance_to(0)
    assert replay.generate_until(50) == [NoteEvent(10, 60, 90)]
    assert replay.release_all(50) == [NoteEvent(50, 60, 0)]


def test_a_cut_take_keeps_what_was_heard() -> None:
    events = [NoteEvent(0, 60, 90), NoteEvent(30, 60, 0), NoteEvent(40, 62, 90)]
    take = Take("answer", 100, 96, lambda v: v, None, None, 0.0, list(events))
    take.cut(135)
    assert take.played_events() == events[:2] and take.played_length == 35
    assert take.note_count() == 1
    take.cut(170)  # a later look at the same stop changes nothing
    assert take.played_length == 35 and take.length == 96


def test_moving_a_state_moves_its_clock_and_notes_only(continuation) -> None:
    continuation.feed_tokens([continuation.vocabulary.note_on(64)])
    state = continuation.snapshot()
    moved = state.moved_by(96)
    assert moved.decoder.tick == state.decoder.tick + 96
    assert moved.decoder.sounding == {64: state.decoder.sounding[64] + 96}
    assert moved.engine is state.engine and moved.logits is state.logits
    assert moved.heard == state.heard
    assert state.decoder.tick == continuation.tick  # the original is untouched
