import mido
import pytest

from liveimpro.config.settings import (
    ContinuationSettings,
    DaemonSettings,
    PhraseSettings,
    ResponseSettings,
    SamplingSettings,
    Settings,
)
from liveimpro.live.clock import TempoClock
from liveimpro.live.improviser import velocity_follower
from liveimpro.midi.wire import ALL_NOTES_OFF
from tests.improviserrig import MS_PER_TICK, STEP_MS, ImproviserRig
from tests.midicheck import stuck_notes


class Rig(ImproviserRig):
    """An improviser on memory ports and a fake millisecond clock."""

    def __init__(self, model_dir, **response) -> None:
        thru = response.pop("thru", False)
        settings = Settings(
            sampling=SamplingSettings(seed=3),
            continuation=ContinuationSettings(beats=4.0, beats_per_bar=4),
            daemon=DaemonSettings(thru=thru),
            phrase=PhraseSettings(silence_beats=1.0, min_notes=2),
            response=ResponseSettings(**response),
        )
        super().__init__(model_dir, settings, TempoClock(bpm=125, start=0.0, units_per_second=1000))


@pytest.mark.parametrize(("quantize", "grid"), [("immediate", 1), ("beat", 24), ("bar", 96)])
def test_response_starts_on_the_grid_after_the_phrase(random_model_dir, quantize, grid) -> None:
    rig = Rig(random_model_dir, quantize=quantize)
    rig.now = 13 * MS_PER_TICK + 3  # off the grid
    rig.phrase()
    phrase_end = rig.clock.current_tick(rig.now)
    rig.wait_for_response()
    start = rig.scheduler.start_tick
    assert start % grid == 0
    assert phrase_end <= start < phrase_end + 24 + grid  # a beat of silence, then the grid
    assert rig.scheduler.end_tick == start + 4 * 24
    assert all(m.time >= rig.clock.time_of(start) for m in rig.port.scheduled)


def test_every_response_note_on_has_its_off(random_model_dir) -> None:
    rig = Rig(random_model_dir)
    rig.phrase()
    rig.wait_for_response()
    rig.wait(8 * 24 * MS_PER_TICK)
    assert rig.improviser.state == "listening"
    assert any(m.type == "note_on" for m in rig.port.scheduled)
    assert stuck_notes(rig.everything_sent()) == set()


def test_proportional_length_follows_the_phrase(random_model_dir) -> None:
    rig = Rig(random_model_dir, length="proportional", proportion=2.0)
    rig.phrase()  # 27 ticks from the first note-on to the last note-off
    rig.wait_for_response()
    assert rig.scheduler.end_tick - rig.scheduler.start_tick == 2 * 27


def test_barge_in_silences_the_response_and_keeps_the_new_note(random_model_dir) -> None:
    rig = Rig(random_model_dir, on_new_phrase="barge_in", thru=True)
    rig.phrase()
    rig.wait_for_response()
    while not rig.scheduler.sounding:
        rig.wait(STEP_MS)
    sounding = set(rig.scheduler.sounding)
    sent_before = len(rig.port.sent)
    rig.play(mido.Message("note_on", note=72, velocity=100))
    assert rig.improviser.state == "listening"
    sent = rig.port.sent[sent_before:]
    offs = {m.note for m in sent if m.type == "note_off"}
    assert sounding <= offs
    assert sum(m.type == "control_change" and m.control == ALL_NOTES_OFF for m in sent) == 16
    assert sent[-1].type == "note_on" and sent[-1].note == 72  # thru, after the panic
    assert rig.port.scheduled == []


def test_overlap_lets_the_response_finish_then_answers_again(random_model_dir) -> None:
    rig = Rig(random_model_dir, on_new_phrase="overlap")
    rig.phrase()
    rig.wait_for_response()
    first_end = rig.scheduler.end_tick
    rig.phrase(pitches=(67, 69))
    assert rig.improviser.state == "responding"
    assert rig.scheduler.end_tick == first_end
    rig.wait(first_end * MS_PER_TICK - rig.now + 2 * 24 * MS_PER_TICK)
    assert rig.scheduler.playing and rig.scheduler.start_tick >= first_end  # a second answer
    assert not any(m.type == "control_change" for m in rig.port.sent)  # never silenced


def test_velocity_follow_moves_toward_the_phrase_mean(random_model_dir) -> None:
    rig = Rig(random_model_dir, velocity_follow=1.0)
    rig.phrase(velocity=33)
    rig.wait_for_response()
    rig.wait(4 * 24 * MS_PER_TICK)
    velocities = {m.velocity for m in rig.port.scheduled if m.type == "note_on"}
    assert velocities == {33}


@pytest.mark.parametrize(
    ("velocity", "mean", "follow", "expected"),
    [(100, 40, 0.0, 100), (100, 40, 0.5, 70), (100, 40, 1.0, 40), (2, 0, 1.0, 1)],
)
def test_velocity_follower(velocity, mean, follow, expected) -> None:
    assert velocity_follower(mean, follow)(velocity) == expected


def test_an_immediate_answer_is_queued_before_the_silence_ends(random_model_dir) -> None:
    rig = Rig(random_model_dir, quantize="immediate")
    rig.phrase()
    last_off = rig.clock.current_tick(rig.now - 3 * MS_PER_TICK)
    silence_end = last_off + 24  # silence_beats = 1
    rig.wait_for_response()
    queued_at = rig.now
    assert rig.scheduler.start_tick == silence_end
    assert queued_at < rig.clock.time_of(silence_end)
    assert rig.improviser.state == "listening"  # until the silence has really ended
    assert all(m.time >= rig.clock.time_of(silence_end) for m in rig.port.scheduled)
    rig.wait(rig.clock.time_of(silence_end) - rig.now + STEP_MS)
    assert rig.improviser.state == "responding"


def test_a_note_before_the_silence_ends_withdraws_the_early_answer(random_model_dir) -> None:
    rig = Rig(random_model_dir, quantize="immediate")
    rig.phrase()
    rig.wait_for_response()
    first_start = rig.scheduler.start_tick
    assert rig.port.scheduled
    primed_tick = rig.improviser.primer.continuation.tick
    rig.play(mido.Message("note_on", note=65, velocity=80))  # still inside the silence
    assert not rig.scheduler.playing
    assert rig.port.scheduled == []  # nothing of the withdrawn answer will sound
    assert rig.improviser.continuation.tick <= primed_tick + 24
    rig.wait(5 * MS_PER_TICK)
    rig.play(mido.Message("note_off", note=65))
    rig.wait_for_response()
    assert rig.scheduler.start_tick > first_start  # the answer to the longer phrase
    rig.wait(8 * 24 * MS_PER_TICK)
    assert stuck_notes(rig.everything_sent()) == set()


def test_a_note_after_the_silence_ends_is_a_new_phrase(random_model_dir) -> None:
    rig = Rig(random_model_dir, quantize="immediate", on_new_phrase="barge_in")
    rig.phrase()
    rig.wait_for_response()
    start = rig.scheduler.start_tick
    rig.now = rig.clock.time_of(start) + 1  # the loop had not yet turned when the note came
    rig.play(mido.Message("note_on", note=65, velocity=80))
    assert not rig.scheduler.playing  # barged in on a confirmed answer
    assert rig.improviser.capture.start_tick == start  # the note began the next phrase


def test_a_lost_performer_ends_the_echoed_notes_and_pedal_and_its_phrase(random_model_dir) -> None:
    rig = Rig(random_model_dir, thru=True)
    rig.play(mido.Message("control_change", channel=3, control=64, value=127))
    for pitch in (60, 64):
        rig.play(mido.Message("note_on", channel=3, note=pitch, velocity=90))
        rig.wait(5 * MS_PER_TICK)
    rig.improviser.input_lost(rig.now)  # the keys stay down: the performer's port is gone
    sent = [m for m in rig.port.sent if m.channel == 3]
    assert stuck_notes(sent) == set()
    assert sent[-1].copy(time=0) == mido.Message("control_change", channel=3, control=64, value=0)
    rig.wait_for_response()  # the phrase ends on the silence after the loss
    assert rig.scheduler.start_tick <= rig.clock.tick_at(rig.now) + 24
