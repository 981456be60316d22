"""What a model was trained on, and putting a live performance into that shape.

A model learns from one kind of input: notated scores hold notes that start on a
16th or triplet grid, sound for their full written value, all at one velocity. A
performer plays off the grid, detached, with dynamics. :class:`InputStyle`
records, in each model's ``model.json``, what the training data looked like, and
:class:`PerformanceNormalizer` reshapes performed note events to match before
they prime the model:

- onsets and releases snap to the data's grid of positions within the beat;
- for a monophonic model, one note at a time (a new note ends the one before,
  so of a chord the top note is kept) and legato: a note lasts until the next one
  starts when the gap is shorter than ``LEGATO_MAX_GAP_TICKS``;
- every note at the training velocity, when the data had only one.

The answer's loudness still follows the performer (``response.velocity_follow``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from liveimpro.vocabulary import TICKS_PER_BEAT, NoteEvent

TEXTURES = ("monophonic", "polyphonic")
LEGATO_MAX_GAP_TICKS = 2 * TICKS_PER_BEAT  # rests this long or longer are kept


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


@dataclass(frozen=True)
class _Sounding:
    pitch: int
    start: int  # normalised onset tick


class PerformanceNormalizer:
    """Reshapes note events (in time order) to an :class:`InputStyle`, one event at a time.

    Output ticks never go back, and may run up to half a grid step ahead of the input
    (an onset snapped forward). A monophonic style holds a released note back until the
    next onset or :meth:`close`, to decide how long it lasts.
    """

    def __init__(self, style: InputStyle) -> None:
        self.style = style
        self._grid = (*style.onset_grid, TICKS_PER_BEAT) if style.onset_grid else ()
        self.reset()

    def reset(self) -> None:
        self._tick = 0
        self._sounding: dict[int, int] = {}  # pitch -> normalised onset
        self._released: tuple[_Sounding, int] | None = None  # monophonic: note, release tick

    def copy(self) -> PerformanceNormalizer:
        twin = PerformanceNormalizer(self.style)
        twin._tick, twin._sounding, twin._released = (
            self._tick,
            dict(self._sounding),
            self._released,
        )
        return twin

    @property
    def monophonic(self) -> bool:
        return self.style.texture == "monophonic"

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

    def feed(self, event: NoteEvent) -> list[NoteEvent]:
        if event.is_on:
            return self._note_on(event)
        return self._note_off(event)

    def _note_on(self, event: NoteEvent) -> list[NoteEvent]:
        onset = self._at(self.snap(event.tick))
        out = []
        if self.monophonic:
            if self._released is not None:
                note, released = self._released
                legato = event.tick - released < LEGATO_MAX_GAP_TICKS
                out.append(
                    self._end(note.pitch, note.start, onset if legato else self.snap(released))
                )
                self._released = None
            for pitch, start in sorted(self._sounding.items()):
                out.append(self._end(pitch, start, onset))
            self._sounding.clear()
        elif event.pitch in self._sounding:
            out.append(self._end(event.pitch, self._sounding.pop(event.pitch), onset))
        onset = self._tick  # an ended note may have pushed time to its next grid point
        velocity = self.style.velocity or event.velocity
        out.append(NoteEvent(onset, event.pitch, velocity))
        self._sounding[event.pitch] = onset
        return out

    def _note_off(self, event: NoteEvent) -> list[NoteEvent]:
        start = self._sounding.pop(event.pitch, None)
        if start is None:
            return []  # already ended by a later note
        if self.monophonic:
            self._released = (_Sounding(event.pitch, start), event.tick)
            return []
        return [self._end(event.pitch, start, self.snap(event.tick))]

    def close(self) -> list[NoteEvent]:
        """The note-offs held back (a monophonic style's last released note)."""
        if self._released is None:
            return []
        note, released = self._released
        self._released = None
        return [self._end(note.pitch, note.start, self.snap(released))]
