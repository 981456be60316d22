"""An improviser on a memory output port and a fake millisecond clock, driven the way the
daemon loop drives it (no threads, no sleeping). The test rigs build on it."""

from __future__ import annotations

from pathlib import Path

import mido

from liveimpro.config.settings import Settings
from liveimpro.core.continuation import build_continuation
from liveimpro.core.modelfile import load_model
from liveimpro.live.clock import Clock
from liveimpro.live.improviser import Improviser
from liveimpro.live.scheduler import ResponseScheduler
from tests.memoryports import MemoryOutputPort

MS_PER_TICK = 20  # 125 bpm on a millisecond clock
STEP_MS = 5  # the daemon loop's turn, in the fake clock
BAR_TICKS = 96


class ImproviserRig:
    """``player`` gets the messages and the turns: the improviser, or what wraps it."""

    def __init__(self, model_dir: Path, settings: Settings, clock: Clock) -> None:
        self.now = 0.0
        self.settings = settings
        self.port = MemoryOutputPort(now=lambda: self.now)
        self.clock = clock
        continuation = build_continuation(
            load_model(model_dir), settings.sampling, settings.notes, ticks_per_bar=BAR_TICKS
        )
        self.scheduler = ResponseScheduler(self.port, clock, channel=0, lookahead_beats=0.5)
        self.improviser = Improviser(settings, continuation, clock, self.scheduler, self.port)
        self.player = self.improviser

    def play(self, message: mido.Message) -> None:
        self.player.handle(message.copy(time=self.now))

    def before_turn(self) -> None:
        """What arrives between two turns of the loop (nothing, unless a rig adds it)."""

    def wait(self, ms: float) -> None:
        end = self.now + ms
        while self.now < end:
            self.now += STEP_MS
            self.before_turn()
            self.player.update(self.now)

    def phrase(
        self,
        pitches: tuple[int, ...] = (60, 62, 64),
        velocity: int = 90,
        note_ms: float = 7 * MS_PER_TICK,
        rest_ms: float = 3 * MS_PER_TICK,
    ) -> None:
        for pitch in pitches:
            self.play(mido.Message("note_on", note=pitch, velocity=velocity))
            self.wait(note_ms)
            self.play(mido.Message("note_off", note=pitch))
            self.wait(rest_ms)

    def wait_for_response(self) -> None:
        for _ in range(1000):
            if self.scheduler.playing:
                return
            self.wait(STEP_MS)
        raise AssertionError("no response started")

    def everything_sent(self) -> list[mido.Message]:
        return sorted(self.port.sent + self.port.scheduled, key=lambda m: m.time)
