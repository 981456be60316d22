"""What the performance does, as events and counters: read off the improviser after each step.

The reporter never changes the improviser; after every message handled and every loop
turn it compares what it sees with what it saw (the phrase under way, the take playing,
the clock) and emits an event for each change. A phrase ends when its capture does; a
response starts when it is confirmed (an early start only counts once its phrase is over)
and ends when it has played out or is stopped, which cuts its take where it stopped.
Every note of the phrase and of the answer is reported as the capture hears it and as the
scheduler queues it (a barged-in answer's end tick says where the rest was cut), and the
clock's tick once a beat, so a client can draw the performance on the daemon's grid.
"""

from __future__ import annotations

from typing import Any

from liveimpro.control.events import EventSink
from liveimpro.live.clock import TempoClock
from liveimpro.live.improviser import Improviser
from liveimpro.live.phrase import Phrase
from liveimpro.live.takes import Take
from liveimpro.music.vocabulary import TICKS_PER_BEAT

EXTERNAL_TEMPO_STEP_BPM = 0.5  # a followed clock's tempo estimate wobbles: smaller moves are noise


class Reporter:
    """Emits the performance's events into ``events`` and counts them."""

    def __init__(self, improviser: Improviser, events: EventSink) -> None:
        self.improviser = improviser
        self.events = events
        self.phrases = 0
        self.responses = 0
        self.notes_out = 0
        self.last_response_latency_ms: float | None = None
        self._phrase_start: int | None = None  # start tick of the phrase seen under way
        self._take: Take | None = None  # the take seen playing
        self._phrase_notes = 0  # how many of the capture's events were reported
        self._take_notes = 0  # how many of the playing take's events were reported
        self.tick: int | None = None  # the clock's tick at the last turn (None: not rolling)
        self._beat: int | None = None
        self.last_take: Take | None = None  # the latest take heard: what loop and mutate use
        self._rolling: bool | None = None
        self._bpm = improviser.clock.bpm
        internal = isinstance(improviser.clock, TempoClock)
        self._tempo_step = 0.0 if internal else EXTERNAL_TEMPO_STEP_BPM

    def counters(self) -> dict[str, Any]:
        return {
            "phrases": self.phrases,
            "responses": self.responses,
            "notes_out": self.notes_out,
            "last_response_latency_ms": self.last_response_latency_ms,
        }

    def observe(self, now: float) -> None:
        """Compare with the last look at port time ``now`` and report the changes."""
        self._observe_clock()
        improviser = self.improviser
        capture = improviser.capture
        start = capture.start_tick
        if start != self._phrase_start:
            if self._phrase_start is not None:
                self._phrase_ended(capture.last_phrase)
            if start is not None:
                self.events.emit("phrase_start", tick=start)
            self._phrase_start = start
            self._phrase_notes = 0
        for event in capture.events[self._phrase_notes :]:
            self._note("phrase", event.tick, event.pitch, event.velocity)
        self._phrase_notes = len(capture.events)
        take = improviser.take if improviser.state == "responding" else None
        if take is not self._take:
            if self._take is not None:
                self._response_ended(self._take, now)
            if take is not None:
                self._response_started(take)
            self._take = take
            self._take_notes = 0
        if take is not None:
            self._take_queued(take)

    def observe_turn(self, now: float) -> None:
        """``observe`` at a main-loop turn; also reports the tick at each new beat.

        Only turns count: a message is stamped before the turn that handles it, so its
        tick may lie behind the one already reported.
        """
        clock = self.improviser.clock
        self.tick = clock.current_tick(now) if clock.rolling else None
        beat = None if self.tick is None else self.tick // TICKS_PER_BEAT
        if beat != self._beat and self.tick is not None and self.tick >= 0:
            self.events.emit("tick", tick=self.tick, bpm=round(clock.bpm, 3))
        self._beat = beat
        self.observe(now)

    def _note(self, source: str, tick: int, pitch: int, velocity: int) -> None:
        self.events.emit("note", tick=tick, pitch=pitch, velocity=velocity, source=source)

    def _take_queued(self, take: Take) -> None:
        """Report the take's events the scheduler has queued (a loop's are known in advance)."""
        queued_to = self.improviser.scheduler.scheduled_to - take.start_tick
        events = take.events
        while self._take_notes < len(events) and events[self._take_notes].tick <= queued_to:
            event = events[self._take_notes]
            velocity = take.velocity(event.velocity) if event.is_on else 0
            self._note("answer", take.start_tick + event.tick, event.pitch, velocity)
            self._take_notes += 1

    def _phrase_ended(self, phrase: Phrase | None) -> None:
        if phrase is None or phrase.start_tick != self._phrase_start:
            self.events.emit("phrase_end", tick=self._phrase_start, dropped=True)
            return
        self.phrases += 1
        beats = (phrase.end_tick - phrase.start_tick) / TICKS_PER_BEAT
        self.events.emit("phrase_end", tick=phrase.start_tick, notes=phrase.note_count, beats=beats)

    def _response_started(self, take: Take) -> None:
        clock = self.improviser.clock
        latency = (clock.time_of(take.start_tick) - take.requested) / clock.units_per_second
        self.last_response_latency_ms = round(latency * 1000.0, 3)
        self.responses += 1
        self.last_take = take
        self.events.emit(
            "response_start",
            kind=take.kind,
            tick=take.start_tick,
            beats=take.length / TICKS_PER_BEAT,
            latency_ms=self.last_response_latency_ms,
        )

    def _response_ended(self, take: Take, now: float) -> None:
        tick = self.improviser.clock.current_tick(now)
        if tick < take.end_tick:
            take.cut(tick)  # stopped early: what was queued for later never sounded
        notes = take.note_count()
        self.notes_out += notes
        end = min(tick, take.end_tick)  # nothing queued from here on sounded
        self.events.emit("response_end", kind=take.kind, notes=notes, tick=end)

    def _observe_clock(self) -> None:
        clock = self.improviser.clock
        if clock.rolling != self._rolling:
            topic = "clock_start" if clock.rolling else "clock_stop"
            self.events.emit(topic, source=self.improviser.settings.clock.source)
            self._rolling = clock.rolling
        if abs(clock.bpm - self._bpm) > self._tempo_step:
            self._bpm = clock.bpm
            self.events.emit("tempo", bpm=round(self._bpm, 3))
