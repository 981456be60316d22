"""What a model was trained on, and putting a live performance into that shape.

A model learns from one kind of input: notated scores hold notes that start on a
16th or triplet grid, sound for their full written value, all at one velocity. A
performer plays off the grid, detached, with dynamics. :class:`InputStyle`
records, in each model's ``model.json``, what the training data looked like, and
:class:`PerformanceNormalizer` reshapes performed note events to match before
they prime the model:

- onsets and releases snap to the data's grid of positions within the beat;
- legato: a released note lasts until the next onset when the gap is shorter than
  ``LEGATO_MAX_GAP_TICKS`` (each voice keeps its own pitch: voices never merge);
- for a monophonic model, one note at a time: a new note ends the one before, and
  of notes that snap to one grid point (a chord) the top note is kept;
- every note at the training velocity, when the data had only one.

The answer's loudness still follows the performer (``response.velocity_follow``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

from liveimpro.music.vocabulary import TICKS_PER_BEAT, NoteEvent

TEXTURES = ("monophonic", "polyphonic")
LEGATO_MAX_GAP_TICKS = 2 * TICKS_PER_BEAT  # rests this long or longer are kept


def _legato(released: int, following: int | None) -> bool:
    """Whether a note released at ``released`` lasts to the onset at ``following``."""
    return following is not None and following - released < LEGATO_MAX_GAP_TICKS


@dataclass(frozen=True)
class InputStyle:
    """The shape of a model's training data; the default changes nothing."""

    texture: str = "polyphonic"
    onset_grid: tuple[int, ...] = ()  # ticks within the beat where notes start; () = any tick
    velocity: int = 0  # the one velocity of the training notes; 0 = they had dynamics
    transpositions: tuple[int, int] = (0, 0)  # training transpositions, semitones, inclusive

    def __post_init__(self) -> None:
        if self.texture not in TEXTURES:
            raise ValueError(
                f"input texture must be one of {', '.join(TEXTURES)}, got {self.texture!r}"
            )
        grid = tuple(self.onset_grid)
        if any(not isinstance(t, int) or not 0 <= t < TICKS_PER_BEAT for t in grid):
            raise ValueError(
                f"input onset_grid must hold ticks in [0, {TICKS_PER_BEAT - 1}], got {grid}"
            )
        if grid and 0 not in grid:
            raise ValueError(f"input onset_grid must include the beat (0), got {grid}")
        object.__setattr__(self, "onset_grid", tuple(sorted(set(grid))))
        if not isinstance(self.velocity, int) or not 0 <= self.velocity <= 127:
            raise ValueError(f"input velocity must be in [0, 127], got {self.velocity!r}")
        low, high = self.transpositions
        if not -12 <= low <= 0 <= high <= 12:
            raise ValueError(
                "input transpositions must satisfy -12 <= low <= 0 <= high <= 12,"
                f" got {self.transpositions}"
            )
        object.__setattr__(self, "transpositions", (int(low), int(high)))

    @property
    def all_keys(self) -> bool:
        """Whether training covered every key (so no key needs moving before priming)."""
        low, high = self.transpositions
        return high - low >= 11

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "onset_grid": list(self.onset_grid),
            "transpositions": list(self.transpositions),
        }

    @classmethod
    def from_dict(cls, data: dict) -> InputStyle:
        if not isinstance(data, dict):
            raise TypeError(f"input style must be a table, got {type(data).__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown input style keys {sorted(unknown)}")
        converted = dict(data)
        for key in ("onset_grid", "transpositions"):
            if key in converted:
                if not isinstance(converted[key], list):
                    raise TypeError(
                        f"input {key} must be a list, got {type(converted[key]).__name__}"
                    )
                converted[key] = tuple(converted[key])
        return cls(**converted)


@dataclass
class _Melody:
    """A monophonic style's latest note, not yet ended: it ends where the next one starts."""

    pitch: int
    velocity: int
    start: int  # normalised onset
    sent: bool = False  # whether its note-on has gone out
    released: int | None = None  # the performer's release tick


class PerformanceNormalizer:
    """Reshapes note events (in time order) to an :class:`InputStyle`, one event at a time.

    Output ticks never go back, and may run up to half a grid step ahead of the input
    (an onset snapped forward). A monophonic style holds each note back until the next
    onset or :meth:`close`: notes that snap to one grid point are a chord (or a slip of
    the hand), of which the top note is kept, and a note lasts until the next one starts.
    """

    def __init__(self, style: InputStyle) -> None:
        self.style = style
        self._grid = (*style.onset_grid, TICKS_PER_BEAT) if style.onset_grid else ()
        self.reset()

    def reset(self) -> None:
        self._tick = 0
        self._sounding: dict[int, int] = {}  # polyphonic: pitch -> normalised onset
        self._released: dict[int, tuple[int, int]] = {}  # pitch -> (onset, release tick)
        self._melody: _Melody | None = None  # monophonic

    def copy(self) -> PerformanceNormalizer:
        twin = PerformanceNormalizer(self.style)
        twin._tick, twin._sounding = self._tick, dict(self._sounding)
        twin._released = dict(self._released)
        twin._melody = None if self._melody is None else dataclasses.replace(self._melody)
        return twin

    def snap(self, tick: int) -> int:
        """The nearest grid point (the earlier one on a tie)."""
        if not self._grid:
            return tick
        beat, position = divmod(tick, TICKS_PER_BEAT)
        nearest = min(self._grid, key=lambda point: (abs(point - position), point))
        return beat * TICKS_PER_BEAT + nearest

    def _next_grid_point(self, tick: int) -> int:
        """The first grid point after ``tick`` (the next tick without a grid)."""
        if not self._grid:
            return tick + 1
        beat, position = divmod(tick, TICKS_PER_BEAT)
        return beat * TICKS_PER_BEAT + next(point for point in self._grid if point > position)

    def _at(self, tick: int) -> int:
        self._tick = max(self._tick, tick)
        return self._tick

    def _end(self, pitch: int, start: int, tick: int) -> NoteEvent:
        """The note-off of a note that started at ``start``: never before its next grid point."""
        return NoteEvent(self._at(max(tick, self._next_grid_point(start))), pitch, 0)

    def _velocity(self, velocity: int) -> int:
        return self.style.velocity or velocity

    def feed(self, event: NoteEvent) -> list[NoteEvent]:
        if self.style.texture == "monophonic":
            return self._melody_on(event) if event.is_on else self._melody_off(event)
        return self._note_on(event) if event.is_on else self._note_off(event)

    def close(self, next_onset: int | None = None) -> list[NoteEvent]:
        """The events held back: a monophonic style's last note, ended at its release, or
        held to ``next_onset`` (where what follows starts) by the legato rule."""
        if self.style.texture == "polyphonic":
            return self._end_released(next_onset, self.snap(next_onset or 0))
        melody, self._melody = self._melody, None
        if melody is None:
            return []
        released = self._tick if melody.released is None else melody.released
        if _legato(released, next_onset):
            released = next_onset
        return [*self._send(melody), self._end(melody.pitch, melody.start, self.snap(released))]

    # Polyphonic: every voice kept, each on the grid, released notes held to the next onset.
    def _note_on(self, event: NoteEvent) -> list[NoteEvent]:
        onset = max(self.snap(event.tick), self._tick)
        out = self._end_released(event.tick, onset)
        if event.pitch in self._sounding:
            out.append(self._end(event.pitch, self._sounding.pop(event.pitch), onset))
        out.append(NoteEvent(self._at(onset), event.pitch, self._velocity(event.velocity)))
        self._sounding[event.pitch] = self._tick
        return out

    def _note_off(self, event: NoteEvent) -> list[NoteEvent]:
        start = self._sounding.pop(event.pitch, None)
        if start is not None:
            self._released[event.pitch] = (start, event.tick)
        return []

    def _end_released(self, following: int | None, onset: int) -> list[NoteEvent]:
        """Note-offs for the released notes: at ``onset`` if they were released less than
        LEGATO_MAX_GAP_TICKS before the note that follows (played at ``following``), else at
        their own (snapped) release."""
        out = []
        in_release_order = sorted(self._released.items(), key=lambda item: (item[1][1], item[0]))
        for pitch, (start, released) in in_release_order:
            legato = _legato(released, following)
            out.append(self._end(pitch, start, onset if legato else self.snap(released)))
        self._released.clear()
        return out

    # Monophonic: one legato line.
    def _melody_on(self, event: NoteEvent) -> list[NoteEvent]:
        onset = max(self.snap(event.tick), self._tick)
        melody = self._melody
        if melody is not None and not melody.sent and onset == melody.start:
            if event.pitch > melody.pitch:  # the top note of a chord
                self._melody = _Melody(event.pitch, self._velocity(event.velocity), onset)
            return []
        out = []
        if melody is not None:
            legato = melody.released is None or _legato(melody.released, event.tick)
            ends = onset if legato else self.snap(melody.released)
            out = [*self._send(melody), self._end(melody.pitch, melody.start, ends)]
        self._melody = _Melody(event.pitch, self._velocity(event.velocity), max(onset, self._tick))
        return out

    def _melody_off(self, event: NoteEvent) -> list[NoteEvent]:
        melody = self._melody
        if melody is not None and melody.pitch == event.pitch and melody.released is None:
            melody.released = event.tick
        return []

    def _send(self, melody: _Melody) -> list[NoteEvent]:
        if melody.sent:
            return []
        melody.sent = True
        return [NoteEvent(self._at(melody.start), melody.pitch, melody.velocity)]
