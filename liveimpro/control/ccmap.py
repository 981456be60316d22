"""The MIDI controller map: controller changes become the same requests a client sends.

As in Magenta's MIDI interface, a mapped continuous controller's value 0..127 maps linearly
onto a range (``cc.temperature_low`` .. ``cc.temperature_high`` and so on); a mapped button
(panic, loop, mutate) acts when its value rises to 64 or more; the model selector's value
picks one of the models listed at start, in name order, and only a change of pick loads one;
the scale controller locks the answer to the phrase's key at 64 or more and unlocks it below.
Ending a phrase is ``phrase.end_cc``, which the phrase capture handles itself.
"""

from __future__ import annotations

import mido

from liveimpro.config.settings import CcSettings, Settings
from liveimpro.control.protocol import Request
from liveimpro.midi.wire import SUSTAIN_CC
from liveimpro.music.midinumbers import MAX_DATA_BYTE
from liveimpro.music.tonality import SCALE_FROM_PHRASE, SCALE_OFF

PRESSED = 64  # a button's value from here up means pressed
BUTTONS = ("panic", "loop", "mutate")


class CcMap:
    """Translates mapped controller changes into requests; ``models`` is what model_select picks."""

    def __init__(self, settings: Settings, models: list[str]) -> None:
        self.settings: CcSettings = settings.cc
        self.models = list(models)
        self._targets = {number: target for target, number in settings.cc.controllers().items()}
        for reserved, what in ((SUSTAIN_CC, "the sustain pedal"), (settings.phrase.end_cc, None)):
            if reserved in self._targets:
                name = what or "phrase.end_cc"
                raise ValueError(
                    f"cc.{self._targets[reserved]} = {reserved} is {name}; map another controller"
                )
        self._pressed: set[int] = set()  # buttons held at PRESSED or more
        self._model_pick: int | None = None

    def claims(self, message: mido.Message) -> bool:
        """Whether ``message`` is a mapped controller change (so it goes nowhere else)."""
        if message.type != "control_change" or message.control not in self._targets:
            return False
        return not self.settings.channel or message.channel == self.settings.channel - 1

    def translate(self, message: mido.Message) -> Request | None:
        """The request a claimed controller change makes; None when it makes none."""
        target = self._targets[message.control]
        value = message.value
        if target in BUTTONS:
            return self._press(target, message.control, value)
        if target == "model_select":
            return self._pick_model(value)
        if target == "scale":
            locked = SCALE_FROM_PHRASE if value >= PRESSED else SCALE_OFF
            return Request("set", {"name": "scale", "value": locked})
        low = getattr(self.settings, f"{target}_low")
        high = getattr(self.settings, f"{target}_high")
        return Request("set", {"name": target, "value": low + (high - low) * value / MAX_DATA_BYTE})

    def _press(self, target: str, control: int, value: int) -> Request | None:
        if value < PRESSED:
            self._pressed.discard(control)
            return None
        if control in self._pressed:
            return None  # still held: one press, one action
        self._pressed.add(control)
        return Request(target)

    def _pick_model(self, value: int) -> Request | None:
        if not self.models:
            return None
        pick = min(len(self.models) - 1, value * len(self.models) // (MAX_DATA_BYTE + 1))
        if pick == self._model_pick:
            return None
        self._model_pick = pick
        return Request("load_model", {"name": self.models[pick]})
