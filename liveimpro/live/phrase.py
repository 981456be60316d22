"""Capturing the performer's phrase from incoming MIDI.

:class:`PhraseCapture` is pure policy: it turns mido messages (already placed on the tick
grid) into note events, resolving the sustain pedal, and decides when a phrase is over:
after a silence, on the end-phrase controller, or at the maximum length. The events go
on to :class:`liveimpro.core.priming.PhrasePrimer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mido

from liveimpro.config.settings import PhraseSettings
from liveimpro.midi.wire import SUSTAIN_CC
from liveimpro.music.midinumbers import MIDI_CHANNELS
from liveimpro.music.vocabulary import TICKS_PER_BEAT, NoteEvent

PEDAL_DOWN = 64  # controller values from here up mean "on"


@dataclass(frozen=True)
class Phrase:
    """A finished phrase: its span in ticks, size and loudness.

    ``closing`` holds note-offs at ``end_tick`` for notes still held when it ended.
    """

    start_tick: int
    end_tick: int
    note_count: int
    mean_velocity: float
    closing: tuple[NoteEvent, ...] = ()


class PhraseCapture:
    """Collects one phrase at a time; ``channel`` 0 listens to every channel (else 1..16)."""

    def __init__(self, settings: PhraseSettings, channel: int = 0) -> None:
        if not isinstance(settings, PhraseSettings):
            raise TypeError(f"settings must be PhraseSettings, got {type(settings).__name__}")
        if not 0 <= channel <= MIDI_CHANNELS:
            raise ValueError(f"channel must be in [0, {MIDI_CHANNELS}] (0 = all), got {channel}")
        self.channel = channel
        self.retune(settings)
        self.last_phrase: Phrase | None = None  # the latest phrase that ended
        self._reset()

    def retune(self, settings: PhraseSettings) -> None:
        """Judge phrase ends by ``settings`` from now on; the phrase under way goes on."""
        self.settings = settings
        self._silence_ticks = settings.silence_beats * TICKS_PER_BEAT
        self._max_ticks = settings.max_beats * TICKS_PER_BEAT

    @property
    def active(self) -> bool:
        """Whether a phrase has begun and not ended."""
        return self.start_tick is not None

    def discard(self) -> None:
        """Forget the phrase under way (its ticks belong to a grid that is gone)."""
        self._reset()

    def release(self, tick: int) -> list[NoteEvent]:
        """The performer is gone (its port lost): note-offs at ``tick`` for every held note.

        The pedal is let go too: its release will never come. The phrase then ends on silence.
        """
        held = sorted(self._keys_down | self._sustained)
        self._keys_down.clear()
        self._sustained.clear()
        self._pedal_down = False
        if not held:
            return []
        tick = max(tick, self._last_tick)
        self._last_tick = tick
        return [NoteEvent(tick, pitch, 0) for pitch in held]

    def _reset(self) -> None:
        # The pedal state ends with the phrase (or a panic): a pedal whose release was lost
        # must not hold every later phrase open.
        self._pedal_down = False
        self.start_tick: int | None = None
        self._last_tick = 0
        self._keys_down: set[int] = set()
        self._sustained: set[int] = set()  # released keys the pedal holds
        self._velocities: list[int] = []
        self.events: list[NoteEvent] = []  # the phrase's note events so far, for the reporter
        self._end_requested = False

    def feed(self, message: mido.Message, tick: int) -> list[NoteEvent]:
        """The phrase's note events that ``message``, arriving at ``tick``, makes.

        A message stamped before the phrase's latest event (a late JACK cycle can stamp
        so) counts at that event's tick: a phrase never goes back in time.
        """
        if self.active:
            tick = max(tick, self._last_tick)
        if not hasattr(message, "channel") or (
            self.channel and message.channel != self.channel - 1
        ):
            return []
        if message.type == "note_on" and message.velocity > 0:
            return self._note_on(message.note, message.velocity, tick)
        if message.type in ("note_on", "note_off"):
            return self._note_off(message.note, tick)
        if message.type == "control_change":
            return self._control(message.control, message.value, tick)
        return []

    def _note_on(self, pitch: int, velocity: int, tick: int) -> list[NoteEvent]:
        if self.start_tick is None:
            self.start_tick = tick
        self._keys_down.add(pitch)
        self._sustained.discard(pitch)
        self._velocities.append(velocity)
        self._last_tick = tick
        return self._heard([NoteEvent(tick, pitch, velocity)])

    def _note_off(self, pitch: int, tick: int) -> list[NoteEvent]:
        if pitch not in self._keys_down:
            return []  # a note from before this phrase, or already ended
        self._keys_down.discard(pitch)
        self._last_tick = tick
        if self._pedal_down:
            self._sustained.add(pitch)
            return []
        return self._heard([NoteEvent(tick, pitch, 0)])

    def _control(self, control: int, value: int, tick: int) -> list[NoteEvent]:
        if control == SUSTAIN_CC:
            self._pedal_down = value >= PEDAL_DOWN
            if self._pedal_down or not self._sustained:
                return []
            released = [NoteEvent(tick, pitch, 0) for pitch in sorted(self._sustained)]
            self._sustained.clear()
            self._last_tick = tick
            return self._heard(released)
        if control == self.settings.end_cc and value >= PEDAL_DOWN and self.active:
            self._end_requested = True
        return []

    def _heard(self, events: list[NoteEvent]) -> list[NoteEvent]:
        self.events += events
        return events

    def poll(self, tick: int) -> Phrase | None:
        """The phrase, if it is over at ``tick`` and long enough; the capture then starts afresh.

        A phrase with fewer than ``min_notes`` notes is dropped without a word.
        """
        if self.start_tick is None:
            return None
        sounding = self._keys_down | self._sustained
        # Keys up is silence enough: notes the pedal holds end with the phrase.
        silent_long_enough = not self._keys_down and tick - self._last_tick >= self._silence_ticks
        too_long = tick - self.start_tick >= self._max_ticks
        if not (silent_long_enough or too_long or self._end_requested):
            return None
        held_on = sounding and not silent_long_enough
        end_tick = max(self._last_tick, tick) if held_on else self._last_tick
        phrase = self._phrase(end_tick, sounding)
        self.last_phrase = phrase  # reported even when too short to answer
        self._reset()
        return phrase if phrase.note_count >= self.settings.min_notes else None

    def silence_ending(self) -> tuple[int, Phrase] | None:
        """If nothing more is played: the tick at which silence ends the phrase, and the phrase.

        None while no phrase is active, a key is still down (so its end is not yet known) or
        the phrase is too short to answer. The capture is left as it is.
        """
        if self.start_tick is None or self._keys_down:
            return None
        if len(self._velocities) < self.settings.min_notes:
            return None
        ends_at = self._last_tick + math.ceil(self._silence_ticks)
        return ends_at, self._phrase(self._last_tick, self._sustained)

    def _phrase(self, end_tick: int, sounding: set[int]) -> Phrase:
        return Phrase(
            start_tick=self.start_tick,
            end_tick=end_tick,
            note_count=len(self._velocities),
            mean_velocity=sum(self._velocities) / len(self._velocities),
            closing=tuple(NoteEvent(end_tick, pitch, 0) for pitch in sorted(sounding)),
        )
