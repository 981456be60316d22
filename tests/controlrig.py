"""An improviser under Controls on memory ports and a fake millisecond clock (no threads)."""

from __future__ import annotations

import dataclasses
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import mido

from liveimpro.config.settings import (
    ContinuationSettings,
    ModelSettings,
    PhraseSettings,
    ResponseSettings,
    SamplingSettings,
    Settings,
)
from liveimpro.control.commands import Controls
from liveimpro.control.protocol import Request
from liveimpro.live.clock import TempoClock
from tests.improviserrig import BAR_TICKS, MS_PER_TICK, STEP_MS, ImproviserRig

__all__ = ["BAR_TICKS", "MS_PER_TICK", "STEP_MS", "ControlRig", "EventLog"]


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


class ControlRig(ImproviserRig):
    """The improviser under Controls, which get the messages and the turns."""

    def __init__(self, model_dir: Path, **sections: Any) -> None:
        defaults = {
            "model": ModelSettings(name=model_dir.name, models_dir=str(model_dir.parent)),
            "sampling": SamplingSettings(seed=3),
            "continuation": ContinuationSettings(beats=4.0, beats_per_bar=4),
            "phrase": PhraseSettings(silence_beats=1.0, min_notes=2),
            "response": ResponseSettings(lookahead_beats=0.5),
        }
        settings = Settings(**{**defaults, **sections})
        super().__init__(model_dir, settings, TempoClock(bpm=125, start=0.0, units_per_second=1000))
        self.log = EventLog()
        self.controls = Controls(self.improviser, self.log, model_name=model_dir.name)
        self.player = self.controls

    def ask(self, cmd: str, **params: Any) -> dict[str, Any]:
        reply = self.controls.answer(Request(cmd, params))
        return reply.result(timeout=60) if isinstance(reply, Future) else reply  # load_model

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

    def replace_settings(self, **sections: Any) -> Settings:
        return dataclasses.replace(self.settings, **sections)
