import random

import mido
import pytest

from liveimpro.config.settings import (
    ClockSettings,
    ContinuationSettings,
    DaemonSettings,
    PhraseSettings,
    ResponseSettings,
    SamplingSettings,
    Settings,
)
from liveimpro.live.clock import Clock, TempoClock
from liveimpro.live.clocksync import ExternalClock, build_clock
from liveimpro.midi.wire import ALL_NOTES_OFF
from tests.improviserrig import STEP_MS, ImproviserRig

RATE = 48000  # frames per second, as JACK counts them


def pulse_period(bpm: float) -> float:
    return RATE * 60 / (bpm * 24)


def send(clock: ExternalClock, kind: str, time: float = 0.0, **fields) -> bool:
    return clock.follow(mido.Message(kind, time=time, **fields))


def pulse_at(clock: ExternalClock, times) -> None:
    for time in times:
        send(clock, "clock", time)


def started(bpm_guess: float = 120.0, at: float = 1000.0) -> ExternalClock:
    clock = ExternalClock(bpm_guess, 0.0, RATE)
    send(clock, "start", at)
    return clock


def test_the_first_pulse_after_start_is_tick_zero_and_each_pulse_one_more() -> None:
    clock = ExternalClock(120, 0.0, RATE)
    pulse_at(clock, [400.0, 1200.0])  # pulses before any start move nothing
    assert not clock.rolling
    send(clock, "start", 1500.0)
    assert not clock.rolling  # until the next pulse
    pulse_at(clock, [2000.0 + 800 * n for n in range(10)])
    assert clock.rolling
    assert clock.tick_at(2000.0) == pytest.approx(0)
    assert clock.time_of(9) == pytest.approx(2000.0 + 800 * 9)
    assert clock.current_tick(2000.0 + 800 * 9 + 799) == 9


def test_rounded_pulses_give_the_tempo_and_a_grid_within_a_frame() -> None:
    # 137 bpm: 875.9 frames a pulse, which a JACK source rounds to whole frames
    period = pulse_period(137)
    clock = started()
    pulse_at(clock, [round(2000 + period * n) for n in range(48)])
    assert clock.bpm == pytest.approx(137, rel=1e-4)
    for tick in range(47, 47 + 24):  # a beat ahead of the last pulse
        assert clock.time_of(tick) == pytest.approx(2000 + period * tick, abs=1.0)


@pytest.mark.parametrize("seed", range(5))
def test_jittered_pulses_give_the_tempo_within_a_percent(seed: int) -> None:
    # rtmidi stamps pulses at the JACK cycle they arrive in: up to 256 frames (5.3 ms) late
    period = pulse_period(120)
    jitter = random.Random(seed)
    clock = started(bpm_guess=90)
    true_times = [2000 + period * n for n in range(96)]
    pulse_at(clock, [time + jitter.uniform(0, 256) for time in true_times])
    assert clock.bpm == pytest.approx(120, rel=0.01)
    # a beat ahead, the grid is off the pulses' mean lateness (128) by less than the jitter
    for tick in range(96, 96 + 24):
        assert clock.time_of(tick) - (2000 + period * tick) == pytest.approx(128, abs=256)


def test_one_late_pulse_moves_the_grid_by_a_fraction_of_its_lateness() -> None:
    period = pulse_period(120)
    clock = started()
    pulse_at(clock, [2000 + period * n for n in range(47)])
    late = 0.4 * period
    send(clock, "clock", 2000 + period * 47 + late)
    assert clock.time_of(47) == pytest.approx(2000 + period * 47, abs=0.05 * late)
    assert clock.bpm == pytest.approx(120, rel=0.01)
    send(clock, "clock", 2000 + period * 48)  # back on time
    assert clock.time_of(48 + 24) == pytest.approx(2000 + period * 72, abs=0.05 * late)


def test_a_new_tempo_is_followed_within_a_beat() -> None:
    clock = started()
    fast, slow = pulse_period(120), pulse_period(90)
    pulse_at(clock, [2000 + fast * n for n in range(48)])
    change = 2000 + fast * 47
    pulse_at(clock, [change + slow * n for n in range(1, 25)])
    assert clock.bpm == pytest.approx(90, rel=1e-9)
    assert clock.time_of(47 + 24 + 12) == pytest.approx(change + slow * (24 + 12))


def test_before_the_second_pulse_the_tempo_is_the_guess() -> None:
    clock = started(bpm_guess=100)
    send(clock, "clock", 2000.0)
    assert clock.bpm == pytest.approx(100)
    assert clock.time_of(1) == pytest.approx(2000 + pulse_period(100))


def test_stop_halts_the_count_and_continue_resumes_after_the_last_pulse() -> None:
    period = pulse_period(120)
    clock = started()
    pulse_at(clock, [2000 + period * n for n in range(30)])  # ticks 0..29
    assert send(clock, "stop", 2000 + period * 29.5) is True  # the grid played on is gone
    assert not clock.rolling
    assert send(clock, "stop", 2000 + period * 29.6) is False  # nothing left to stop
    pulse_at(clock, [2000 + period * n for n in range(30, 40)])  # pulses while stopped
    assert send(clock, "continue", 50_000.0) is False
    send(clock, "clock", 50_500.0)  # after a gap: the tempo is kept, not spoilt
    assert clock.rolling
    assert clock.tick_at(50_500.0) == pytest.approx(30)
    assert clock.bpm == pytest.approx(120)


def test_song_position_sets_where_continue_resumes() -> None:
    clock = started()
    pulse_at(clock, [2000 + 1000 * n for n in range(5)])
    send(clock, "stop", 7000.0)
    assert send(clock, "songpos", 7100.0, pos=9) is False  # 9 sixteenths
    send(clock, "continue", 8000.0)
    send(clock, "clock", 9000.0)
    assert clock.tick_at(9000.0) == pytest.approx(54)


def test_start_while_rolling_restarts_at_zero_and_says_the_grid_is_gone() -> None:
    clock = started()
    pulse_at(clock, [2000 + 1000 * n for n in range(5)])
    assert send(clock, "start", 6500.0) is True
    send(clock, "clock", 7000.0)
    assert clock.tick_at(7000.0) == pytest.approx(0)


def test_song_position_while_rolling_jumps_at_the_next_pulse() -> None:
    clock = started()
    pulse_at(clock, [2000 + 1000 * n for n in range(5)])
    assert send(clock, "songpos", 6500.0, pos=16) is True
    send(clock, "clock", 7000.0)
    assert clock.rolling and clock.tick_at(7000.0) == pytest.approx(96)


def test_continue_while_rolling_changes_nothing() -> None:
    clock = started()
    pulse_at(clock, [2000 + 1000 * n for n in range(5)])
    assert send(clock, "continue", 6500.0) is False
    send(clock, "clock", 7000.0)
    assert clock.tick_at(7000.0) == pytest.approx(5)


def test_a_message_that_is_no_clock_message_is_refused() -> None:
    with pytest.raises(ValueError, match="not a clock message"):
        send(started(), "note_on", note=60)


def test_build_clock_follows_the_source_setting() -> None:
    internal = build_clock(ClockSettings(bpm=100), 500.0, RATE)
    assert isinstance(internal, TempoClock) and internal.time_of(0) == 500.0
    external = build_clock(ClockSettings(source="external", bpm=100), 500.0, RATE)
    assert isinstance(external, ExternalClock) and not external.rolling
    assert external.bpm == pytest.approx(100)


def test_the_tempo_guess_is_checked() -> None:
    with pytest.raises(ValueError, match=r"bpm must be in \[20.0, 300.0\]"):
        ExternalClock(400, 0.0, RATE)


# The improviser following an external clock, on memory ports -----------------------------

SOURCE_MS_PER_PULSE = 25  # the source plays 100 bpm on a millisecond clock; we guess 120
FIRST_PULSE_MS = 1013  # off any round number, so the grid can only come from the pulses


class FollowRig(ImproviserRig):
    """An improviser following a pulse source, driven the way the daemon loop drives it."""

    def __init__(self, model_dir, *, thru: bool = False, clock: Clock | None = None) -> None:
        settings = Settings(
            sampling=SamplingSettings(seed=3),
            continuation=ContinuationSettings(beats=8.0),
            daemon=DaemonSettings(thru=thru),
            phrase=PhraseSettings(silence_beats=1.0, min_notes=2),
            response=ResponseSettings(quantize="beat", lookahead_beats=0.5),
        )
        super().__init__(
            model_dir, settings, clock or ExternalClock(120, 0.0, units_per_second=1000)
        )
        self.pulsing = False
        self.next_pulse = float(FIRST_PULSE_MS)

    def transport(self, kind: str, **fields) -> None:
        self.improviser.handle(mido.Message(kind, time=self.now, **fields))
        self.pulsing = kind in ("start", "continue")

    def before_turn(self) -> None:
        while self.pulsing and self.next_pulse <= self.now:  # arrived since the last turn
            self.improviser.handle(mido.Message("clock", time=self.next_pulse))
            self.next_pulse += SOURCE_MS_PER_PULSE
        if not self.pulsing:  # a source that stops pulsing while stopped
            self.next_pulse = max(self.next_pulse, self.now + SOURCE_MS_PER_PULSE)

    def phrase(self, pitches=(60, 62, 64)) -> None:
        super().phrase(pitches, note_ms=6 * SOURCE_MS_PER_PULSE, rest_ms=3 * SOURCE_MS_PER_PULSE)

    def note_ons(self) -> list[mido.Message]:
        return [m for m in self.port.scheduled if m.type == "note_on" and m.velocity > 0]


def started_rig(model_dir, **options) -> FollowRig:
    rig = FollowRig(model_dir, **options)
    rig.now = FIRST_PULSE_MS - 10.0
    rig.transport("start")
    rig.wait(10 * SOURCE_MS_PER_PULSE)
    return rig


def test_the_answer_starts_on_a_beat_of_the_source_and_plays_on_its_pulses(
    random_model_dir,
) -> None:
    rig = started_rig(random_model_dir)
    assert rig.clock.bpm == pytest.approx(100)
    rig.phrase()
    rig.wait_for_response()
    assert rig.scheduler.start_tick % 24 == 0
    rig.wait(8 * 24 * SOURCE_MS_PER_PULSE)
    assert rig.note_ons(), "no answer"
    for note in rig.note_ons():
        pulses = (note.time - FIRST_PULSE_MS) / SOURCE_MS_PER_PULSE
        assert pulses == pytest.approx(round(pulses), abs=1e-6)
        assert round(pulses) >= rig.scheduler.start_tick


def test_stop_silences_the_answer_and_nothing_answers_until_the_transport_rolls(
    random_model_dir,
) -> None:
    rig = started_rig(random_model_dir)
    rig.phrase()
    rig.wait_for_response()
    while not rig.scheduler.sounding:
        rig.wait(STEP_MS)
    sounding = set(rig.scheduler.sounding)
    rig.transport("stop")
    assert not rig.scheduler.playing
    assert rig.port.scheduled == []  # the queued rest of the answer is cancelled
    offs = {m.note for m in rig.port.sent if m.type == "note_off"}
    assert sounding <= offs
    assert sum(m.type == "control_change" and m.control == ALL_NOTES_OFF for m in rig.port.sent)
    rig.phrase()  # played while stopped: not heard
    rig.wait(4 * 24 * SOURCE_MS_PER_PULSE)
    assert not rig.scheduler.playing and rig.port.scheduled == []
    rig.transport("continue")
    rig.wait(2 * SOURCE_MS_PER_PULSE)
    rig.phrase()
    rig.wait_for_response()
    assert rig.scheduler.start_tick % 24 == 0


def test_a_restart_drops_the_phrase_under_way(random_model_dir) -> None:
    rig = started_rig(random_model_dir)
    rig.phrase(pitches=(60, 62))
    rig.transport("start")  # before the silence ends the phrase
    rig.wait(4 * 24 * SOURCE_MS_PER_PULSE)
    assert not rig.scheduler.playing and rig.port.scheduled == []
    assert not rig.improviser.capture.active


def test_clock_messages_are_neither_echoed_nor_captured(random_model_dir) -> None:
    rig = started_rig(random_model_dir, thru=True)
    rig.wait(4 * 24 * SOURCE_MS_PER_PULSE)
    assert rig.port.sent == []
    assert not rig.improviser.capture.active


def test_with_the_internal_clock_an_input_stop_changes_nothing(random_model_dir) -> None:
    rig = FollowRig(random_model_dir, clock=TempoClock(100, 0.0, units_per_second=1000))
    rig.phrase()
    rig.wait_for_response()
    rig.transport("stop")
    assert rig.scheduler.playing and rig.port.scheduled
