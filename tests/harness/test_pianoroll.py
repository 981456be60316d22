from liveimpro.harness.pianoroll import render
from liveimpro.music.vocabulary import Note


def test_call_and_response_marks_and_bar_lines():
    call = [Note(62, 90, 0, 12)]
    response = [Note(64, 90, 96, 108)]
    rows = render(call, response, ticks_per_bar=96, ticks_per_column=6).splitlines()
    assert [row[:5] for row in rows] == [" E4  ", "D#4  ", " D4  "]
    grid = [row[5:] for row in rows]  # one column per 6 ticks, bars every 16 columns
    assert grid[2][:2] == "##" and grid[0][16:18] == "oo"
    assert grid[1] == "|" + " " * 15 + "| "


def test_empty():
    assert render([], []) == "(no notes)"
