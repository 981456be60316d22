"""Events and counters read off the improviser (through Controls on memory ports)."""

from __future__ import annotations

import mido
import pytest

from tests.controlrig import ControlRig


@pytest.fixture
def rig(random_model_dir) -> ControlRig:
    return ControlRig(random_model_dir)


def test_phrase_and_response_events_carry_their_figures(rig) -> None:
    rig.phrase()
    rig.wait_for("responding")
    rig.wait_for("listening")
    assert rig.log.topics()[:2] == ["clock_start", "phrase_start"]
    (phrase_end,) = rig.log.of("phrase_end")
    assert phrase_end["notes"] == 3 and phrase_end["beats"] == pytest.approx(27 / 24)
    (start,) = rig.log.of("response_start")
    assert start["kind"] == "answer" and start["beats"] == 4.0
    (end,) = rig.log.of("response_end")
    assert end["notes"] == len(rig.notes_on())


def test_a_phrase_too_short_to_answer_still_ends_with_its_figures(rig) -> None:
    rig.phrase(pitches=(60,))  # phrase.min_notes is 2
    rig.wait(3000)
    assert rig.log.of("phrase_end") == [{"tick": 0, "notes": 1, "beats": 7 / 24}]
    assert rig.log.of("response_start") == []


def test_a_barged_in_answer_counts_the_notes_heard_only(rig) -> None:
    rig.phrase()
    rig.wait_for("responding")
    while len(rig.notes_on(rig.clock.time_of(rig.scheduler.start_tick))) < 2:
        rig.wait(5)
    heard_until = rig.now
    generated = rig.improviser.take.note_count()
    rig.play(mido.Message("note_on", note=40, velocity=80))  # barge-in
    (end,) = rig.log.of("response_end")
    start = rig.clock.time_of(rig.scheduler.start_tick)
    heard = [m for m in rig.notes_on(start) if m.time <= heard_until]
    assert end == {"kind": "answer", "notes": len(heard), "tick": rig.clock.current_tick(rig.now)}
    assert len(heard) < generated  # the lookahead had queued more
    assert rig.ask("status")["counters"]["notes_out"] == len(heard)


def test_latency_runs_from_the_phrases_last_note_to_the_answer(rig) -> None:
    rig.phrase()
    rig.wait_for("responding")
    phrase = rig.improviser.capture.last_phrase
    start = rig.scheduler.start_tick
    expected = rig.clock.time_of(start) - rig.clock.time_of(phrase.end_tick)  # ms clock
    assert rig.log.of("response_start")[0]["latency_ms"] == pytest.approx(expected)


def test_every_note_of_the_phrase_and_the_answer_is_reported_on_the_grid(rig) -> None:
    rig.phrase(pitches=(60, 62, 64))
    rig.wait_for("responding")
    rig.wait_for("listening")
    notes = rig.log.of("note")
    phrase = [(n["pitch"], n["velocity"] > 0) for n in notes if n["source"] == "phrase"]
    assert phrase == [(60, True), (60, False), (62, True), (62, False), (64, True), (64, False)]
    answer_ons = [n for n in notes if n["source"] == "answer" and n["velocity"] > 0]
    sent = rig.notes_on()
    assert [n["pitch"] for n in answer_ons] == [m.note for m in sent]
    assert [n["velocity"] for n in answer_ons] == [m.velocity for m in sent]
    assert [rig.clock.time_of(n["tick"]) for n in answer_ons] == [m.time for m in sent]
    answer = [n for n in notes if n["source"] == "answer"]
    assert sum(n["velocity"] > 0 for n in answer) == sum(n["velocity"] == 0 for n in answer)


def test_the_tick_is_reported_once_a_beat_and_in_status(rig) -> None:
    rig.wait(2000)  # 125 bpm on the fake clock: four beats and a sixth
    ticks = [event["tick"] for event in rig.log.of("tick")]
    assert [tick // 24 for tick in ticks] == [0, 1, 2, 3, 4]
    assert all(event["bpm"] == 125 for event in rig.log.of("tick"))
    assert rig.ask("status")["tick"] == rig.clock.current_tick(rig.now) == 100
