"""A text piano roll, so a call and its response can be seen in a terminal."""

from __future__ import annotations

from liveimpro.music.vocabulary import TICKS_PER_BEAT, Note, bar_ticks

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def render(
    call: list[Note],
    response: list[Note],
    ticks_per_bar: int = bar_ticks(4),
    ticks_per_column: int = TICKS_PER_BEAT // 4,
) -> str:
    """Rows from high to low pitch; ``#`` marks the call, ``o`` the response, ``|`` bars."""
    notes = [(n, "#") for n in call] + [(n, "o") for n in response]
    if not notes:
        return "(no notes)"
    low = min(n.pitch for n, _ in notes)
    high = max(n.pitch for n, _ in notes)
    end = max(n.end for n, _ in notes)
    columns = -(-end // ticks_per_column)
    rows = {pitch: [" "] * columns for pitch in range(low, high + 1)}
    for column in range(columns):
        if column * ticks_per_column % ticks_per_bar == 0:
            for row in rows.values():
                row[column] = "|"
    for note, mark in notes:
        first = note.start // ticks_per_column
        last = max(first + 1, -(-note.end // ticks_per_column))
        for column in range(first, last):
            rows[note.pitch][column] = mark
    return "\n".join(
        f"{NOTE_NAMES[pitch % 12]:>2}{pitch // 12 - 1:<2} {''.join(rows[pitch])}"
        for pitch in range(high, low - 1, -1)
    )
