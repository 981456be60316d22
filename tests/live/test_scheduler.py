import itertools

import pytest

from liveimpro.config.settings import NotesSettings, SamplingSettings
from liveimpro.core.continuation import build_continuation
from liveimpro.core.modelfile import load_model
from liveimpro.live.clock import TempoClock
from liveimpro.live.scheduler import ResponseScheduler
from liveimpro.midi.wire import ALL_NOTES_OFF
from tests.memoryports import MemoryOutputPort
from tests.midicheck import stuck_notes

MS_PER_TICK = 20  # 125 bpm on a millisecond clock


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rig(random_model_dir):
    time = FakeTime()
    port = MemoryOutputPort(now=time)
    clock = TempoClock(bpm=125, start=0.0, units_per_second=1000)
    continuation = build_continuation(
        load_model(random_model_dir),
        SamplingSettings(seed=5),
        NotesSettings(max_note_beats=1.0),
        ticks_per_bar=96,
    )
    continuation.start(0)
    return time, port, clock, continuation


def play_through(scheduler: ResponseScheduler, time: FakeTime, until_ms: float) -> None:
    while scheduler.playing and time.now <= until_ms:
        scheduler.update(time.now)
        time.now += 7


def test_response_is_generated_at_most_the_lookahead_ahead(rig) -> None:
    time, port, clock, continuation = rig
    scheduler = ResponseScheduler(port, clock, channel=3, lookahead_beats=0.5)
    scheduler.start(continuation, start_tick=24, end_tick=24 + 16 * 24)
    time.now = clock.time_of(24)
    while scheduler.playing:
        scheduler.update(time.now)
        horizon = clock.time_of(clock.current_tick(time.now) + 12)
        assert all(message.time <= horizon for message in port.scheduled)
        time.now += 7
    notes = [m for m in port.scheduled if m.type in ("note_on", "note_off")]
    assert any(m.type == "note_on" for m in notes)
    assert all(m.channel == 3 for m in notes)
    assert all(clock.time_of(24) <= m.time <= clock.time_of(24 + 16 * 24) for m in notes)
    assert stuck_notes(sorted(port.scheduled, key=lambda m: m.time)) == set()


def test_no_note_outlasts_the_response_end(rig) -> None:
    time, port, clock, continuation = rig
    continuation.feed_tokens([continuation.vocabulary.note_on(60)])  # held into the response
    scheduler = ResponseScheduler(port, clock, channel=0, lookahead_beats=1.0)
    scheduler.start(continuation, start_tick=0, end_tick=30)
    play_through(scheduler, time, until_ms=10_000)
    assert not scheduler.playing and scheduler.sounding == {}
    assert max(m.time for m in port.scheduled) <= clock.time_of(30)
    assert stuck_notes(sorted(port.scheduled, key=lambda m: m.time)) == set()


def test_stop_sends_offs_for_every_sounding_note_and_cc123(rig) -> None:
    time, port, clock, continuation = rig
    scheduler = ResponseScheduler(port, clock, channel=0, lookahead_beats=1.0)
    scheduler.start(continuation, start_tick=0, end_tick=64 * 24)
    while not scheduler.sounding:
        scheduler.update(time.now)
        time.now += 7
    playing = {(0, pitch) for pitch in scheduler.sounding}
    scheduler.stop()
    assert not scheduler.playing and scheduler.sounding == {}
    assert port.scheduled == []  # nothing still to come
    offs = {(m.channel, m.note) for m in port.sent if m.type == "note_off"}
    assert playing <= offs
    cc123 = [m for m in port.sent if m.type == "control_change" and m.control == ALL_NOTES_OFF]
    assert len(cc123) == 16


def test_send_clock_sends_start_then_a_pulse_on_every_tick(rig) -> None:
    time, port, clock, _ = rig
    time.now = -100.0  # before tick 0
    scheduler = ResponseScheduler(port, clock, channel=0, lookahead_beats=0.5, send_clock=True)
    scheduler.update(time.now)
    time.now = 50.0
    scheduler.update(time.now)
    assert port.scheduled[0].type == "start" and port.scheduled[0].time == 0.0
    pulses = [m.time for m in port.scheduled if m.type == "clock"]
    assert pulses == [tick * MS_PER_TICK for tick in range(len(pulses))]
    assert len(pulses) == clock.current_tick(50.0) + 12  # half a beat ahead


def test_start_after_stop_cancelled_pulses_resumes_from_now(rig) -> None:
    time, port, clock, _ = rig
    scheduler = ResponseScheduler(port, clock, channel=0, lookahead_beats=0.5, send_clock=True)
    scheduler.update(time.now)
    scheduler.stop()
    time.now = 5 * MS_PER_TICK + 1
    scheduler.update(time.now)
    pulses = [m.time for m in port.scheduled if m.type == "clock"]
    assert pulses[0] == 6 * MS_PER_TICK
    assert not any(m.type == "start" for m in port.scheduled)  # the clock goes on, not over


@pytest.mark.parametrize("lookahead", [0, 1.5])
def test_lookahead_out_of_range_is_rejected(rig, lookahead: float) -> None:
    _, port, clock, _ = rig
    with pytest.raises(ValueError, match=r"lookahead_beats must be in \(0, 1\]"):
        ResponseScheduler(port, clock, channel=0, lookahead_beats=lookahead)


def test_a_note_off_never_goes_before_its_note_on_after_a_tempo_jump(rig) -> None:
    time, port, clock, continuation = rig
    scheduler = ResponseScheduler(port, clock, channel=0, lookahead_beats=1.0)
    scheduler.start(continuation, start_tick=0, end_tick=64 * 24)
    jumps = iter([300, 20, 300, 25, 290, 30] * 10)
    while scheduler.playing:
        scheduler.update(time.now)
        if scheduler.sounding and (bpm := next(jumps, None)) is not None:
            clock.set_tempo(bpm, time.now)  # ticks queued a beat ahead keep their old times
        time.now += 7
    notes = [m for m in port.scheduled if m.type in ("note_on", "note_off")]
    for pitch in {m.note for m in notes}:
        times = [(m.time, m.type == "note_on") for m in notes if m.note == pitch]
        ons = [when for when, is_on in times if is_on]
        offs = [when for when, is_on in times if not is_on]
        assert len(ons) == len(offs)
        assert all(off >= on for on, off in zip(sorted(ons), sorted(offs), strict=True))


def test_after_tempo_changes_everything_queued_stays_in_order_and_pulses_even(rig) -> None:
    time, port, clock, continuation = rig
    scheduler = ResponseScheduler(port, clock, channel=0, lookahead_beats=1.0, send_clock=True)
    scheduler.start(continuation, start_tick=0, end_tick=64 * 24)
    changes = [(700, 20), (3000, 300), (4000, 150), (4500, 20)]  # (ms, bpm): `set tempo`
    while time.now < 9000:
        scheduler.update(time.now)
        if changes and time.now >= changes[0][0]:
            bpm = changes.pop(0)[1]
            old = clock.bpm
            clock.set_tempo(bpm, time.now)
            scheduler.retime(time.now, old / bpm)
        time.now += 7
    # In the order queued, each message is due no earlier than the one queued before it.
    times = [m.time for m in port.scheduled]
    assert times == sorted(times)
    pulses = [m.time for m in port.scheduled if m.type == "clock"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(pulses)]
    tick_ms = {bpm: 60_000 / (bpm * 24) for bpm in (20, 150, 300)}
    at_300 = [gap for when, gap in zip(pulses, gaps, strict=False) if 3050 <= when < 3950]
    assert at_300 and all(gap == pytest.approx(tick_ms[300]) for gap in at_300)
    # Across the change from 150 to 20 no gap is longer than a tick at each tempo.
    assert max(gaps) <= tick_ms[20] + tick_ms[150] + 1e-9


def test_set_channel_ends_the_old_channels_notes_and_plays_on_the_new(rig) -> None:
    time, port, clock, continuation = rig
    scheduler = ResponseScheduler(port, clock, channel=0, lookahead_beats=0.5)
    scheduler.start(continuation, start_tick=0, end_tick=32 * 24)
    while not scheduler.sounding:
        scheduler.update(time.now)
        time.now += 7
    sounding = set(scheduler.sounding)
    scheduler.set_channel(5)
    ended = [m for m in port.scheduled if m.type == "note_off" and m.note in sounding]
    assert {m.note for m in ended} == sounding and {m.channel for m in ended} == {0}
    assert scheduler.sounding == {}
    cut = max(m.time for m in ended)  # where scheduling had reached
    play_through(scheduler, time, until_ms=100_000)
    assert stuck_notes(sorted(port.scheduled, key=lambda m: m.time)) == set()
    later = [m for m in port.scheduled if m.type == "note_on" and m.time > cut]
    assert later and all(m.channel == 5 for m in later)
    with pytest.raises(ValueError, match=r"channel must be in \[0, 15\], got 16"):
        scheduler.set_channel(16)
