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

from liveimpro.clock import TempoClock
from liveimpro.continuation import Continuation
from liveimpro.phrase import Phrase, PhraseCapture, PhrasePrimer
from liveimpro.ports import OutputPort
from liveimpro.scheduler import ResponseScheduler
from liveimpro.settings import Settings
from liveimpro.vocabulary import TICKS_PER_BEAT, NoteEvent

RESPONSE_LEAD_S = 0.03  # the earliest a response may start: time to generate and queue it
THRU_TYPES = ("note_on", "note_off", "control_change", "pitchwheel", "aftertouch", "polytouch")


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
        clock: TempoClock,
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

    @property
    def state(self) -> str:
        return "responding" if self.scheduler.playing else "listening"

    def handle(self, message: mido.Message) -> None:
        """One input message; ``message.time`` is its arrival in the port's clock."""
        tick = max(0, round(self.clock.tick_at(message.time)))
        was_active = self.capture.active
        events = self.capture.feed(message, tick)
        if not was_active and self.capture.active:
            if self.scheduler.playing and self.settings.response.on_new_phrase == "barge_in":
                self.scheduler.stop()  # before thru, so the performer's new note survives
            self._unprimed_start = self.capture.start_tick
        if self.settings.daemon.thru and message.type in THRU_TYPES:
            self.output.send(message)
        self._unprimed += events
        self._prime()

    def update(self, now: float) -> None:
        """Advance to port time ``now``: stream the response, end phrases, start answers."""
        self.scheduler.update(now)
        if self.scheduler.playing:
            return
        self._prime()
        phrase = self.capture.poll(self.clock.current_tick(now))
        if phrase is not None:
            self._respond(phrase, now)
            self.scheduler.update(now)

    def _prime(self) -> None:
        if self.scheduler.playing:
            return
        if self._unprimed_start is not None:
            self.primer.begin(self._unprimed_start)
            self._unprimed_start = None
        if self._unprimed:
            self.primer.feed(self._unprimed)
            self._unprimed = []

    def _respond(self, phrase: Phrase, now: float) -> None:
        self.primer.feed(list(phrase.closing))
        start = self.response_start(now, phrase.end_tick)
        response = self.settings.response
        if response.length == "fixed":
            length = round(self.settings.continuation.beats * TICKS_PER_BEAT)
        else:
            length = round(response.proportion * (phrase.end_tick - phrase.start_tick))
        velocity = velocity_follower(phrase.mean_velocity, response.velocity_follow)
        self.scheduler.start(self.continuation, start, start + max(1, length), velocity)

    def response_start(self, now: float, phrase_end_tick: int) -> int:
        """The first allowed grid tick at least RESPONSE_LEAD_S after ``now``."""
        earliest = math.ceil(self.clock.tick_at(now) + self.clock.seconds_to_ticks(RESPONSE_LEAD_S))
        earliest = max(earliest, phrase_end_tick)
        grid = {
            "immediate": 1,
            "beat": TICKS_PER_BEAT,
            "bar": TICKS_PER_BEAT * self.settings.continuation.beats_per_bar,
        }[self.settings.response.quantize]
        return -(-earliest // grid) * grid
