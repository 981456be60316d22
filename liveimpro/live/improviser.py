"""The improviser's policy: listen to a phrase, answer it, listen again.

Messages from the input are placed on the clock's tick grid and captured as a phrase,
which primes the continuation note by note. When the phrase ends, the response starts
on the next allowed grid point (now, the next beat or the next bar) and the scheduler
streams it. Playing during a response either stops it (barge-in) or lets it finish
(overlap: the new phrase is primed once the response is over). Hardware is reached only
through the output port's methods.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import mido

from liveimpro.config.settings import Settings
from liveimpro.core.continuation import Continuation, ContinuationState
from liveimpro.core.priming import PhrasePrimer, PrimerState
from liveimpro.errors import Refused
from liveimpro.live.clock import CLOCK_MESSAGES, Clock, TempoClock
from liveimpro.live.phrase import PEDAL_DOWN, Phrase, PhraseCapture
from liveimpro.live.scheduler import ResponseScheduler
from liveimpro.live.takes import Replay, Take, TakeRecorder
from liveimpro.midi.ports import OutputPort
from liveimpro.midi.wire import SUSTAIN_CC
from liveimpro.music.vocabulary import TICKS_PER_BEAT, NoteEvent, bar_ticks

RESPONSE_LEAD_S = 0.03  # the earliest a response may start: time to generate and queue it
THRU_TYPES = ("note_on", "note_off", "control_change", "pitchwheel", "aftertouch", "polytouch")


class EchoedNotes:
    """The notes and sustain pedals thru has sounding at the output, to end them if need be."""

    def __init__(self) -> None:
        self.notes: set[tuple[int, int]] = set()  # (channel, note)
        self.pedals: set[int] = set()  # channels whose sustain pedal is down

    def sent(self, message: mido.Message) -> None:
        if message.type == "note_on" and message.velocity > 0:
            self.notes.add((message.channel, message.note))
        elif message.type in ("note_on", "note_off"):
            self.notes.discard((message.channel, message.note))
        elif message.type == "control_change" and message.control == SUSTAIN_CC:
            if message.value >= PEDAL_DOWN:
                self.pedals.add(message.channel)
            else:
                self.pedals.discard(message.channel)

    def release(self) -> list[mido.Message]:
        """Note-offs for the notes, pedal releases for the pedals; then nothing is held."""
        messages = [
            mido.Message("note_off", channel=channel, note=note)
            for channel, note in sorted(self.notes)
        ] + [
            mido.Message("control_change", channel=channel, control=SUSTAIN_CC, value=0)
            for channel in sorted(self.pedals)
        ]
        self.notes.clear()
        self.pedals.clear()
        return messages


def response_ticks(settings: Settings, phrase_ticks: int) -> int:
    """How long the answer to a phrase of ``phrase_ticks`` lasts, by response.length."""
    if settings.response.length == "fixed":
        length = round(settings.continuation.beats * TICKS_PER_BEAT)
    else:
        length = round(settings.response.proportion * phrase_ticks)
    return max(1, length)


def next_grid_tick(settings: Settings, earliest: int) -> int:
    """The first tick at or after ``earliest`` where response.quantize lets an answer start."""
    grid = {
        "immediate": 1,
        "beat": TICKS_PER_BEAT,
        "bar": bar_ticks(settings.continuation.beats_per_bar),
    }[settings.response.quantize]
    return -(-earliest // grid) * grid


def velocity_follower(mean_velocity: float, follow: float) -> Callable[[int], int]:
    """Moves a velocity ``follow`` (0..1) of the way toward ``mean_velocity``."""

    def follow_velocity(velocity: int) -> int:
        return min(127, max(1, round(velocity + follow * (mean_velocity - velocity))))

    return follow_velocity


class Improviser:
    """listening -> responding -> listening, driven by ``handle`` and ``update``."""

    def __init__(
        self,
        settings: Settings,
        continuation: Continuation,
        clock: Clock,
        scheduler: ResponseScheduler,
        output: OutputPort,
    ) -> None:
        self.settings = settings
        self.continuation = continuation
        self.clock = clock
        self.scheduler = scheduler
        self.output = output
        self.capture = PhraseCapture(settings.phrase, settings.daemon.channel)
        self.primer = PhrasePrimer(continuation)
        # Phrase events not yet fed to the continuation (it is busy while responding).
        self._unprimed: list[NoteEvent] = []
        self._unprimed_start: int | None = None
        # The continuation and primer as they were before a response started early (see
        # update); None when no early start awaits confirmation.
        self._early_start: tuple[ContinuationState, PrimerState] | None = None
        self.echoed = EchoedNotes()  # what thru has sounding at the output
        self.muted = False  # phrases are listened to but not answered
        self.take: Take | None = None  # the latest response started (an early one may be withdrawn)

    @property
    def state(self) -> str:
        playing = self.scheduler.playing and self._early_start is None
        return "responding" if playing else "listening"

    def handle(self, message: mido.Message) -> None:
        """One input message; ``message.time`` is its arrival in the port's clock."""
        if message.type in CLOCK_MESSAGES:
            self._follow_clock(message)
            return
        tick = max(0, round(self.clock.tick_at(message.time)))
        if self._early_start is not None and self.capture.poll(tick) is not None:
            self._early_start = None  # the phrase ended before this message: the answer stands
        was_active = self.capture.active
        events = self.capture.feed(message, tick) if self.clock.rolling else []
        if events and self._early_start is not None:
            self._withdraw_early_start()
        if not was_active and self.capture.active:
            if self.scheduler.playing and self.settings.response.on_new_phrase == "barge_in":
                self.scheduler.stop()  # before thru, so the performer's new note survives
            self._unprimed_start = self.capture.start_tick
        if self.settings.daemon.thru and message.type in THRU_TYPES:
            self.output.send(message)
            self.echoed.sent(message)
        self._unprimed += events
        self._prime()

    def input_lost(self, when: float) -> None:
        """The performer's connection was lost at port time ``when``, mid-phrase perhaps.

        Its note-offs and pedal release will never come: the held notes end there (so the
        phrase ends on silence and is answered), and the notes thru echoed are ended.
        """
        tick = max(0, round(self.clock.tick_at(when)))
        self._unprimed += self.capture.release(tick)
        self._prime()
        for message in self.echoed.release():
            self.output.send(message)

    def update(self, now: float) -> None:
        """Advance to port time ``now``: stream the response, end phrases, start answers."""
        self.scheduler.update(now)
        if self._early_start is not None:
            if self.capture.poll(self.clock.current_tick(now)) is not None:
                self._early_start = None
            return
        if self.scheduler.playing:
            return
        self._prime()
        phrase = self.capture.poll(self.clock.current_tick(now))
        if phrase is not None:
            self._respond(phrase, self.response_start(now, phrase.end_tick))
        else:
            self._start_early(now)
        if self.scheduler.playing:
            self.scheduler.update(now)

    def _follow_clock(self, message: mido.Message) -> None:
        """Clock and transport messages drive an external clock (the internal one ignores them).

        A stop or a jump silences the response and drops the phrase under way: their
        ticks belong to a grid that is gone.
        """
        if self.clock.follow(message):
            self.panic()

    def _start_early(self, now: float) -> None:
        """Start the answer before the silence window closes, so its first note is on time.

        The end of a silence window is known in advance; within RESPONSE_LEAD_S of the
        answer's start, the response is generated and queued. A note played before the
        window closes withdraws it, and the continuation returns to its saved state.
        """
        ending = self.capture.silence_ending()
        if ending is None:
            return
        ends_at, phrase = ending
        start = next_grid_tick(self.settings, ends_at)
        lead = self.clock.units_per_second * RESPONSE_LEAD_S
        if self.clock.time_of(start) - now > lead:
            return
        self._early_start = self.continuation.snapshot(), self.primer.snapshot()
        self._respond(phrase, start)

    def _withdraw_early_start(self) -> None:
        self.scheduler.stop()
        continuation_state, primer_state = self._early_start
        self.continuation.restore(continuation_state)
        self.primer.restore(primer_state)
        self._early_start = None

    def _prime(self) -> None:
        if self.scheduler.playing:
            return
        if self._unprimed_start is not None:
            self.primer.begin(self._unprimed_start)
            self._unprimed_start = None
        if self._unprimed:
            self.primer.feed(self._unprimed)
            self._unprimed = []

    def _respond(self, phrase: Phrase, start: int) -> None:
        self.primer.finish(phrase.closing, start)
        length = response_ticks(self.settings, phrase.end_tick - phrase.start_tick)
        velocity = velocity_follower(phrase.mean_velocity, self.settings.response.velocity_follow)
        self._play(phrase, start, start + length, velocity)

    def response_start(self, now: float, phrase_end_tick: int) -> int:
        """The first allowed grid tick after the phrase's end and RESPONSE_LEAD_S after ``now``."""
        earliest = math.ceil(self.clock.tick_at(now) + self.clock.seconds_to_ticks(RESPONSE_LEAD_S))
        return next_grid_tick(self.settings, max(earliest, phrase_end_tick))

    # Live control: liveimpro.control.commands calls these on the main loop ------------------------

    def _play(self, phrase: Phrase, start: int, end: int, velocity: Callable[[int], int]) -> None:
        """Answer ``phrase`` from ``start`` to ``end`` unless muted, recording it as a take."""
        if self.muted:
            return
        snapshot = self.continuation.snapshot()
        requested = self.clock.time_of(phrase.end_tick)
        take = Take("answer", start, end - start, velocity, self.continuation, snapshot, requested)
        self.scheduler.start(TakeRecorder(self.continuation, take), start, end, velocity)
        self.take = take

    def retune(self, settings: Settings, now: float) -> None:
        """Play by ``settings`` from port time ``now`` on.

        Sampling parameters apply from the tick the scheduler has reached, at most
        response.lookahead_beats ahead; the tempo from ``now`` (notes and clock pulses
        already queued move with it); the channel to notes not yet scheduled; the rest
        where it is read.
        """
        old = self.settings
        if settings.clock.bpm != old.clock.bpm and not isinstance(self.clock, TempoClock):
            raise Refused("the tempo follows the external MIDI clock (clock.source)")
        self.settings = settings
        if settings.sampling != old.sampling:
            self.continuation.set_sampling(settings.sampling)  # a rest drawn too far is redrawn
        if settings.phrase != old.phrase:
            self.capture.retune(settings.phrase)
        if settings.clock.bpm != old.clock.bpm:
            self.clock.set_tempo(settings.clock.bpm, now)
            self.scheduler.retime(now, old.clock.bpm / settings.clock.bpm)
        if settings.response.channel != old.response.channel:
            channel = settings.response.channel - 1
            self.scheduler.set_channel(channel)
            if settings.response.program >= 0:
                program = settings.response.program
                self.output.send(mido.Message("program_change", channel=channel, program=program))

    def panic(self) -> None:
        """Silence every note now and drop the phrase under way: listen afresh."""
        self.scheduler.stop()
        self.capture.discard()
        self._unprimed = []
        self._unprimed_start = None
        self._early_start = None

    def mute(self) -> None:
        """Stop the response playing and answer no phrase until ``unmute``."""
        self.muted = True
        if self.scheduler.playing:
            self.scheduler.stop()

    def unmute(self) -> None:
        self.muted = False

    def replay_refusal(self, kind: str, take: Take | None) -> str | None:
        """Why ``loop`` or ``mutate`` (``kind``) of ``take`` cannot run now; None if it can."""
        if self.muted:
            return "muted; unmute first"
        if take is None:
            return "no response has played yet"
        if kind == "mutate" and take.source is not self.continuation:
            return "the last response came from another model (loop still replays it)"
        if self.capture.active:
            return "a phrase is being played; try again once it has ended"
        return None

    def loop(self, now: float, take: Take | None) -> None:
        """Play ``take`` again, as far as it was heard, from a bar line (see replay_start)."""
        self._stop_for_replay("loop", now, take)
        start = self.replay_start(now, take.start_tick)
        primed = take.primed.moved_by(start - take.start_tick)
        length = take.played_length
        again = Take("loop", start, length, take.velocity, take.source, primed, now)
        again.events = take.played_events()
        self.scheduler.start(Replay(again), start, again.end_tick, take.velocity)
        self.take = again

    def mutate(self, now: float, take: Take | None) -> None:
        """Re-sample ``take`` from the state it was primed with, from a bar line."""
        self._stop_for_replay("mutate", now, take)
        start = self.replay_start(now, take.start_tick)
        primed = take.primed.moved_by(start - take.start_tick)
        self.continuation.restore(primed)
        again = Take("mutate", start, take.length, take.velocity, take.source, primed, now)
        recorder = TakeRecorder(self.continuation, again)
        self.scheduler.start(recorder, start, again.end_tick, take.velocity)
        self.take = again

    def replay_start(self, now: float, original_start: int) -> int:
        """The first tick RESPONSE_LEAD_S after ``now`` a whole number of bars from the original.

        A take starts at the same place in the bar as it first did: the model was primed
        with that metrical position.
        """
        earliest = self.clock.tick_at(now) + self.clock.seconds_to_ticks(RESPONSE_LEAD_S)
        bar = bar_ticks(self.settings.continuation.beats_per_bar)
        return original_start + math.ceil((earliest - original_start) / bar) * bar

    def _stop_for_replay(self, kind: str, now: float, take: Take | None) -> None:
        if (refusal := self.replay_refusal(kind, take)) is not None:
            raise Refused(f"{kind}: {refusal}")
        if self.scheduler.playing:  # the take playing is self.take: it stops here
            self.scheduler.stop()
            self.take.cut(self.clock.current_tick(now))

    def replace_continuation(self, continuation: Continuation) -> bool:
        """Answer with ``continuation`` (another model's) from the next phrase on.

        Only between phrases (nothing captured or playing), so no note of the old model is
        left sounding and no phrase is primed half into each; False when not yet.
        """
        if self.capture.active or self.scheduler.playing:
            return False
        continuation.set_sampling(self.settings.sampling)
        self.continuation = continuation
        self.primer = PhrasePrimer(continuation)
        return True
