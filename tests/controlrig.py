"""An improviser under Controls on memory ports and a fake millisecond clock (no threads)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import mido

from liveimpro.clock import TempoClock
from liveimpro.continuation import build_continuation
from liveimpro.control import Controls
from liveimpro.improviser import Improviser
from liveimpro.modelfile import load_model
from liveimpro.ports import MemoryOutputPort
from liveimpro.protocol import Request
from liveimpro.scheduler import ResponseScheduler
from liveimpro.settings import (
    ContinuationSettings,
    ModelSettings,
    PhraseSettings,
    ResponseSettings,
    SamplingSettings,
    Settings,
)

MS_PER_TICK = 20  # 125 bpm on a millisecond clock
STEP_MS = 5  # the daemon loop's turn, in the fake clock
BAR_TICKS = 96


class EventLog:
    """An event sink that keeps every event, for tests."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, topic: str, **fields: Any) -> None:
        self.events.append((topic, fields))

    def topics(self) -> list[str]:
        return [topic for topic, _ in self.events]

    def of(self, topic: str) -> list[dict[str, Any]]:
        return [fields for name, fields in self.events if name == topic]


class ControlRig:
    def __init__(self, model_dir: Path, **sections: Any) -> None:
        self.now = 0.0
        defaults = {
            "model": ModelSettings(name=model_dir.name, models_dir=str(model_dir.parent)),
            "sampling": SamplingSettings(seed=3),
            "continuation": ContinuationSettings(beats=4.0, beats_per_bar=4),
            "phrase": PhraseSettings(silence_beats=1.0, min_notes=2),
            "response": ResponseSettings(lookahead_beats=0.5),
        }
        self.settings = Settings(**{**defaults, **sections})
        self.port = MemoryOutputPort(now=lambda: self.now)
        self.clock = TempoClock(bpm=125, start=0.0, units_per_second=1000)
        continuation = build_continuation(
            load_model(model_dir), self.settings.sampling, self.settings.notes, BAR_TICKS
        )
        self.scheduler = ResponseScheduler(self.port, self.clock, channel=0, lookahead_beats=0.5)
        self.improviser = Improviser(
            self.settings, continuation, self.clock, self.scheduler, self.port
        )
        self.log = EventLog()
        self.controls = Controls(self.improviser, self.log, model_name=model_dir.name)

    def ask(self, cmd: str, **params: Any) -> dict[str, Any]:
        return self.controls.answer(Request(cmd, params))

    def play(self, message: mido.Message) -> None:
        self.controls.handle(message.copy(time=self.now))

    def wait(self, ms: float) -> None:
        end = self.now + ms
        while self.now < end:
            self.now += STEP_MS
            self.controls.update(self.now)

    def phrase(self, pitches=(60, 62, 64), velocity: int = 90) -> None:
        for pitch in pitches:
            self.play(mido.Message("note_on", note=pitch, velocity=velocity))
            self.wait(7 * MS_PER_TICK)
            self.play(mido.Message("note_off", note=pitch))
            self.wait(3 * MS_PER_TICK)

    def wait_for(self, state: str, limit_ms: float = 20_000) -> None:
        while self.improviser.state != state:
            if self.now > limit_ms:
                raise AssertionError(f"never {state}")
            self.wait(STEP_MS)

    def notes_on(self, start_ms: float = 0.0) -> list[mido.Message]:
        return [
            m
            for m in self.port.scheduled
            if m.type == "note_on" and m.velocity > 0 and m.time >= start_ms
        ]

    def everything_sent(self) -> list[mido.Message]:
        return sorted(self.port.sent + self.port.scheduled, key=lambda m: m.time)

    def replace_settings(self, **sections: Any) -> Settings:
        return dataclasses.replace(self.settings, **sections)
