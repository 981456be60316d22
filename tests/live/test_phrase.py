import mido
import pytest

from liveimpro.config.settings import PhraseSettings
from liveimpro.live.phrase import PhraseCapture
from liveimpro.music.vocabulary import NoteEvent


def on(note: int, velocity: int = 80, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=velocity, channel=channel)


def off(note: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=note, channel=channel)


def cc(control: int, value: int) -> mido.Message:
    return mido.Message("control_change", control=control, value=value)


def capture(**settings) -> PhraseCapture:
    defaults = {"silence_beats": 1.0, "min_notes": 2}
    return PhraseCapture(PhraseSettings(**{**defaults, **settings}))


def play(phrase: PhraseCapture, timeline: list[tuple[int, mido.Message]]) -> list[NoteEvent]:
    events = []
    for tick, message in timeline:
        events += phrase.feed(message, tick)
    return events


def test_phrase_ends_after_the_silence_counted_from_the_last_release() -> None:
    phrase = capture()
    play(phrase, [(10, on(60, 100)), (20, off(60)), (30, on(62, 60)), (40, off(62))])
    assert phrase.poll(63) is None  # 23 ticks of silence: not yet a beat
    ended = phrase.poll(64)
    assert (ended.start_tick, ended.end_tick, ended.note_count) == (10, 40, 2)
    assert ended.mean_velocity == 80
    assert ended.closing == ()
    assert not phrase.active


def test_a_held_note_is_not_silence() -> None:
    phrase = capture()
    play(phrase, [(0, on(60)), (5, off(60)), (6, on(64))])
    assert phrase.poll(500) is None


def test_velocity_zero_note_on_is_a_note_off() -> None:
    phrase = capture()
    events = play(phrase, [(0, on(60)), (12, on(60, velocity=0))])
    assert events == [NoteEvent(0, 60, 80), NoteEvent(12, 60, 0)]


def test_a_phrase_shorter_than_min_notes_is_ignored() -> None:
    phrase = capture(min_notes=3)
    play(phrase, [(0, on(60)), (5, off(60)), (6, on(62)), (9, off(62))])
    assert phrase.poll(100) is None
    assert not phrase.active  # dropped, and the next note starts a new phrase
    play(phrase, [(200, on(60))])
    assert phrase.start_tick == 200


def test_end_cc_ends_the_phrase_at_once_closing_held_notes() -> None:
    phrase = capture(end_cc=20)
    play(phrase, [(0, on(60)), (4, on(64)), (6, cc(20, 127))])
    ended = phrase.poll(7)
    assert ended.end_tick == 7
    assert ended.closing == (NoteEvent(7, 60, 0), NoteEvent(7, 64, 0))


def test_end_cc_before_any_note_is_ignored() -> None:
    phrase = capture(end_cc=20)
    play(phrase, [(0, cc(20, 127)), (1, on(60)), (2, off(60)), (3, on(61))])
    assert phrase.poll(4) is None


def test_max_length_ends_a_phrase_still_playing() -> None:
    phrase = capture(max_beats=2.0)
    play(phrase, [(0, on(60)), (10, on(62))])
    assert phrase.poll(47) is None
    ended = phrase.poll(48)
    assert ended.end_tick == 48 and ended.note_count == 2


def test_sustain_holds_released_notes_until_the_pedal_lifts() -> None:
    phrase = capture()
    events = play(phrase, [(0, cc(64, 127)), (1, on(60)), (5, off(60)), (8, on(62)), (9, off(62))])
    assert [e.is_on for e in events] == [True, True]  # the offs wait for the pedal
    assert phrase.poll(20) is None
    events = play(phrase, [(20, cc(64, 0))])
    assert events == [NoteEvent(20, 60, 0), NoteEvent(20, 62, 0)]
    assert phrase.poll(43) is None  # the silence counts from the pedal's release
    assert phrase.poll(44).end_tick == 20


def test_with_the_pedal_held_and_the_keys_up_the_phrase_ends_after_the_silence() -> None:
    phrase = capture()
    play(phrase, [(0, cc(64, 127)), (1, on(60)), (5, off(60)), (8, on(62)), (9, off(62))])
    ends_at, foretold = phrase.silence_ending()
    assert ends_at == 9 + 24
    assert phrase.poll(32) is None
    ended = phrase.poll(33)
    assert ended == foretold
    assert (ended.end_tick, ended.closing) == (9, (NoteEvent(9, 60, 0), NoteEvent(9, 62, 0)))


@pytest.mark.parametrize("reset", ["phrase_end", "discard"])
def test_a_pedal_left_down_does_not_outlive_its_phrase_or_a_panic(reset: str) -> None:
    phrase = capture()
    play(phrase, [(0, cc(64, 127)), (1, on(60)), (5, off(60)), (8, on(62)), (9, off(62))])
    if reset == "phrase_end":
        assert phrase.poll(100) is not None
    else:
        phrase.discard()
    events = play(phrase, [(200, on(64)), (205, off(64))])  # its release never came
    assert events == [NoteEvent(200, 64, 80), NoteEvent(205, 64, 0)]


def test_release_ends_held_and_pedalled_notes_when_the_performer_is_gone() -> None:
    phrase = capture()
    play(phrase, [(0, cc(64, 127)), (1, on(60)), (5, off(60)), (8, on(62)), (9, on(64))])
    assert phrase.release(12) == [NoteEvent(12, 60, 0), NoteEvent(12, 62, 0), NoteEvent(12, 64, 0)]
    assert phrase.poll(35) is None
    assert phrase.poll(36).note_count == 3
    assert play(phrase, [(50, on(65)), (51, off(65))])[1] == NoteEvent(51, 65, 0)  # pedal up
    assert phrase.release(60) == []  # nothing held


def test_channel_filter_ignores_other_channels() -> None:
    phrase = PhraseCapture(PhraseSettings(silence_beats=1.0, min_notes=1), channel=2)
    assert phrase.feed(on(60, channel=0), 0) == []
    assert phrase.feed(on(61, channel=1), 1) == [NoteEvent(1, 61, 80)]


def test_channel_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"channel must be in \[0, 16\]"):
        PhraseCapture(PhraseSettings(), channel=17)


def test_silence_ending_foretells_what_poll_will_return() -> None:
    phrase = capture(silence_beats=0.5)
    play(phrase, [(10, on(60, 100)), (20, off(60)), (30, on(62, 60))])
    assert phrase.silence_ending() is None  # a key is down: the end is not known
    play(phrase, [(40, off(62))])
    ends_at, foretold = phrase.silence_ending()
    assert ends_at == 52
    assert phrase.poll(ends_at - 1) is None
    assert phrase.poll(ends_at) == foretold


def test_silence_ending_is_none_for_a_phrase_too_short_to_answer() -> None:
    phrase = capture(min_notes=3)
    play(phrase, [(10, on(60)), (20, off(60)), (30, on(62)), (40, off(62))])
    assert phrase.silence_ending() is None


def test_a_message_stamped_early_counts_at_the_latest_tick() -> None:
    phrase = capture()
    events = play(phrase, [(10, on(60)), (30, on(62)), (29, off(60))])
    assert [event.tick for event in events] == [10, 30, 30]


def test_retune_judges_the_phrase_under_way_by_the_new_silence() -> None:
    phrase = capture(silence_beats=1.0)
    play(phrase, [(0, on(60)), (10, off(60)), (12, on(62)), (20, off(62))])
    phrase.retune(PhraseSettings(silence_beats=2.0, min_notes=2))
    assert phrase.poll(20 + 24) is None
    assert phrase.poll(20 + 48).note_count == 2


def test_the_last_phrase_is_kept_even_when_too_short_to_answer() -> None:
    phrase = capture(min_notes=3)
    play(phrase, [(0, on(60)), (5, off(60))])
    assert phrase.poll(100) is None
    assert (phrase.last_phrase.start_tick, phrase.last_phrase.note_count) == (0, 1)
