"""The event vocabulary shared by training and runtime.

A performance is a stream of tokens on a grid of 24 ticks per beat, the MIDI
clock's resolution:

    PAD, BOS, EOS            specials (never sampled)
    NOTE_ON(pitch)           128 tokens, at the current tick and velocity
    NOTE_OFF(pitch)          128 tokens
    VELOCITY(bin)            sets the velocity of the note-ons that follow
    SHIFT(n)                 advances the clock by n = 1..max_shift ticks

Events at one tick are ordered note-offs first, then note-ons, each by pitch,
so every set of on-grid notes has exactly one encoding.

The model also sees the metrical position reached after each token, as two
features: the tick within the beat and the beat within the bar.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from liveimpro.music.midinumbers import MAX_DATA_BYTE

TICKS_PER_BEAT = 24
MAX_BEAT_FEATURE = 8  # beats in a bar beyond the 8th share the last feature value


def bar_ticks(beats_per_bar: int) -> int:
    """The length of a bar of ``beats_per_bar`` beats, in ticks."""
    return beats_per_bar * TICKS_PER_BEAT


@dataclass(frozen=True, slots=True)
class Note:
    """A note on the tick grid; ``end`` is exclusive and greater than ``start``."""

    pitch: int
    velocity: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class NoteEvent:
    """A note-on (velocity > 0) or note-off (velocity 0) at an absolute tick."""

    tick: int
    pitch: int
    velocity: int

    @property
    def is_on(self) -> bool:
        return self.velocity > 0


@dataclass(frozen=True)
class VocabularySpec:
    """Everything that fixes the token layout; saved with every model."""

    ticks_per_beat: int = TICKS_PER_BEAT
    velocity_bins: int = 8
    max_shift: int = 4 * TICKS_PER_BEAT

    def __post_init__(self) -> None:
        for name, low, high in (
            ("ticks_per_beat", TICKS_PER_BEAT, TICKS_PER_BEAT),
            ("velocity_bins", 1, 127),
            ("max_shift", 1, 16 * TICKS_PER_BEAT),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"vocabulary {name} must be an int, got {type(value).__name__}")
            if not low <= value <= high:
                raise ValueError(f"vocabulary {name} must be in [{low}, {high}], got {value}")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> VocabularySpec:
        if not isinstance(data, dict):
            raise TypeError(f"vocabulary spec must be a table, got {type(data).__name__}")
        unknown = set(data) - {"ticks_per_beat", "velocity_bins", "max_shift"}
        if unknown:
            raise ValueError(f"unknown vocabulary keys {sorted(unknown)}")
        return cls(**data)


class Vocabulary:
    """Token ids and their meaning for one :class:`VocabularySpec`."""

    PAD = 0
    BOS = 1
    EOS = 2

    def __init__(self, spec: VocabularySpec | None = None) -> None:
        self.spec = spec or VocabularySpec()
        self.note_on_base = 3
        self.note_off_base = self.note_on_base + 128
        self.velocity_base = self.note_off_base + 128
        self.shift_base = self.velocity_base + self.spec.velocity_bins
        self.size = self.shift_base + self.spec.max_shift
        # Ticks each token advances the clock by: 0 except for shifts.
        self.shift_ticks = np.zeros(self.size, dtype=np.int64)
        self.shift_ticks[self.shift_base :] = np.arange(1, self.spec.max_shift + 1)

    # Token constructors -------------------------------------------------
    def note_on(self, pitch: int) -> int:
        return self.note_on_base + pitch

    def note_off(self, pitch: int) -> int:
        return self.note_off_base + pitch

    def velocity(self, velocity_bin: int) -> int:
        return self.velocity_base + velocity_bin

    def shift(self, ticks: int) -> int:
        return self.shift_base + ticks - 1

    def shifts(self, ticks: int) -> list[int]:
        """The tokens that advance the clock by ``ticks`` (largest shifts first)."""
        full, rest = divmod(ticks, self.spec.max_shift)
        tokens = [self.shift(self.spec.max_shift)] * full
        if rest:
            tokens.append(self.shift(rest))
        return tokens

    # Velocity bins ---------------------------------------------------------
    def velocity_bin(self, velocity: int) -> int:
        """The bin of a MIDI velocity 1..127."""
        return min(self.spec.velocity_bins - 1, velocity * self.spec.velocity_bins // 128)

    def bin_velocity(self, velocity_bin: int) -> int:
        """The MIDI velocity that stands for a bin (the bin's centre)."""
        return int((velocity_bin + 0.5) * 128 / self.spec.velocity_bins)

    # Token classes ---------------------------------------------------------
    def describe(self, token: int) -> str:
        """A readable name such as ``ON(60)`` or ``SHIFT(12)``."""
        if not 0 <= token < self.size:
            return f"INVALID({token})"
        if token < self.note_on_base:
            return ("PAD", "BOS", "EOS")[token]
        if token < self.note_off_base:
            return f"ON({token - self.note_on_base})"
        if token < self.velocity_base:
            return f"OFF({token - self.note_off_base})"
        if token < self.shift_base:
            return f"VEL({token - self.velocity_base})"
        return f"SHIFT({token - self.shift_base + 1})"

    def metrical_features(
        self, tokens: np.ndarray, ticks_per_bar: int, start_tick: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tick-in-beat and beat-in-bar reached after each token.

        tokens: (T,) int  ->  two (T,) int32 arrays.
        """
        ticks = start_tick + np.cumsum(self.shift_ticks[np.asarray(tokens)])
        return metrical_position(ticks, ticks_per_bar)


def metrical_position(tick, ticks_per_bar: int):
    """(tick within beat, beat within bar) of an absolute tick or array of ticks."""
    sub_beat = np.asarray(tick % TICKS_PER_BEAT, dtype=np.int32)
    beat = np.minimum((tick % ticks_per_bar) // TICKS_PER_BEAT, MAX_BEAT_FEATURE - 1)
    beat = np.asarray(beat, dtype=np.int32)
    if np.ndim(tick) == 0:
        return int(sub_beat), int(beat)
    return sub_beat, beat


class EventEncoder:
    """Turns note events, in time order, into tokens as they happen.

    Used for live input (one event at a time) and, through :func:`encode`,
    for whole pieces. Note-offs for silent pitches are dropped; a note-on for
    a sounding pitch first ends the sounding note.
    """

    def __init__(self, vocabulary: Vocabulary, tick: int = 0) -> None:
        self.vocabulary = vocabulary
        self.tick = tick
        self.velocity_bin: int | None = None
        self.sounding: set[int] = set()

    def _advance(self, tick: int) -> list[int]:
        if tick < self.tick:
            raise ValueError(f"event at tick {tick} is before the encoder's tick {self.tick}")
        tokens = self.vocabulary.shifts(tick - self.tick)
        self.tick = tick
        return tokens

    def note_on(self, pitch: int, velocity: int, tick: int) -> list[int]:
        if velocity == 0:
            return self.note_off(pitch, tick)
        tokens = self._advance(tick)
        if pitch in self.sounding:
            tokens.append(self.vocabulary.note_off(pitch))
        velocity_bin = self.vocabulary.velocity_bin(velocity)
        if velocity_bin != self.velocity_bin:
            tokens.append(self.vocabulary.velocity(velocity_bin))
            self.velocity_bin = velocity_bin
        tokens.append(self.vocabulary.note_on(pitch))
        self.sounding.add(pitch)
        return tokens

    def note_off(self, pitch: int, tick: int) -> list[int]:
        if pitch not in self.sounding:
            return []
        tokens = self._advance(tick)
        tokens.append(self.vocabulary.note_off(pitch))
        self.sounding.discard(pitch)
        return tokens

    def advance_to(self, tick: int) -> list[int]:
        """Shift tokens that bring the clock to ``tick`` (e.g. a silence)."""
        return self._advance(tick)

    def copy(self) -> EventEncoder:
        twin = EventEncoder(self.vocabulary, self.tick)
        twin.velocity_bin = self.velocity_bin
        twin.sounding = set(self.sounding)
        return twin


class EventDecoder:
    """Turns tokens back into note events, one token at a time.

    Holds the state that the sampler's validity masks read: the current tick,
    the current velocity and the sounding notes with their start ticks.
    """

    DEFAULT_VELOCITY_BIN_FRACTION = 0.7  # a note-on before any VELOCITY token

    def __init__(self, vocabulary: Vocabulary, tick: int = 0) -> None:
        self.vocabulary = vocabulary
        self.tick = tick
        default_bin = int(vocabulary.spec.velocity_bins * self.DEFAULT_VELOCITY_BIN_FRACTION)
        self.velocity_bin = default_bin
        self.sounding: dict[int, int] = {}  # pitch -> start tick
        self.last_token = Vocabulary.BOS

    def feed(self, token: int) -> NoteEvent | None:
        """Apply one token; return the note event it makes, if any."""
        v = self.vocabulary
        self.last_token = token
        if token >= v.shift_base:
            self.tick += token - v.shift_base + 1
        elif token >= v.velocity_base:
            self.velocity_bin = token - v.velocity_base
        elif token >= v.note_off_base:
            pitch = token - v.note_off_base
            if self.sounding.pop(pitch, None) is not None:
                return NoteEvent(self.tick, pitch, 0)
        elif token >= v.note_on_base:
            pitch = token - v.note_on_base
            self.sounding[pitch] = self.tick  # a retrigger restarts the note
            return NoteEvent(self.tick, pitch, v.bin_velocity(self.velocity_bin))
        return None

    def copy(self) -> EventDecoder:
        twin = EventDecoder(self.vocabulary, self.tick)
        twin.velocity_bin = self.velocity_bin
        twin.sounding = dict(self.sounding)
        twin.last_token = self.last_token
        return twin

    def moved_by(self, ticks: int) -> EventDecoder:
        """A copy with its clock and sounding notes ``ticks`` later, all else the same."""
        moved = self.copy()
        moved.tick += ticks
        moved.sounding = {pitch: start + ticks for pitch, start in self.sounding.items()}
        return moved

    def release_all(self) -> list[NoteEvent]:
        """Note-offs, at the current tick, for every sounding note."""
        events = [NoteEvent(self.tick, pitch, 0) for pitch in sorted(self.sounding)]
        self.sounding.clear()
        return events


def notes_to_events(notes: Iterable[Note]) -> list[NoteEvent]:
    """Note-ons and note-offs in the canonical order: by tick, offs first, then by pitch."""
    events = []
    for note in notes:
        events.append((note.start, 1, note.pitch, note.velocity))
        events.append((note.end, 0, note.pitch, 0))
    return [NoteEvent(tick, pitch, velocity) for tick, _, pitch, velocity in sorted(events)]


def encode(notes: Iterable[Note], vocabulary: Vocabulary, start_tick: int = 0) -> list[int]:
    """Tokens for a set of notes, without BOS. See :func:`normalize_notes`."""
    encoder = EventEncoder(vocabulary, start_tick)
    tokens: list[int] = []
    for event in notes_to_events(notes):
        tokens += encoder.note_on(event.pitch, event.velocity, event.tick)
    return tokens


def notes_from_events(events: Iterable[NoteEvent]) -> list[Note]:
    """Pair note-ons with their note-offs; a note-on for a sounding pitch ends that note.

    Zero-length and unfinished notes are left out.
    """
    started: dict[int, NoteEvent] = {}
    notes: list[Note] = []
    for event in events:
        on = started.pop(event.pitch, None)
        if on is not None and event.tick > on.tick:
            notes.append(Note(on.pitch, on.velocity, on.tick, event.tick))
        if event.is_on:
            started[event.pitch] = event
    return sorted(notes, key=lambda n: (n.start, n.pitch))


def decode(tokens: Iterable[int], vocabulary: Vocabulary, start_tick: int = 0) -> list[Note]:
    """Notes for a token sequence; notes still sounding at the end are closed there."""
    decoder = EventDecoder(vocabulary, start_tick)
    events = [event for event in map(decoder.feed, map(int, tokens)) if event is not None]
    return notes_from_events(events + decoder.release_all())


def normalize_notes(notes: Iterable[Note]) -> list[Note]:
    """Make notes encodable: valid pitch and velocity, at least one tick long,
    and no two notes of one pitch overlapping (the earlier one is cut short)."""
    by_pitch: dict[int, list[Note]] = {}
    for note in notes:
        if not 0 <= note.pitch <= MAX_DATA_BYTE:
            continue
        velocity = min(MAX_DATA_BYTE, max(1, note.velocity))
        end = max(note.end, note.start + 1)
        by_pitch.setdefault(note.pitch, []).append(Note(note.pitch, velocity, note.start, end))
    result = []
    for same_pitch in by_pitch.values():
        same_pitch.sort(key=lambda n: (n.start, n.end))
        for note, following in zip(same_pitch, [*same_pitch[1:], None], strict=True):
            end = note.end if following is None else min(note.end, following.start)
            if end > note.start:
                result.append(Note(note.pitch, note.velocity, note.start, end))
    return sorted(result, key=lambda n: (n.start, n.pitch))
