"""Controls: each command checked on the caller's thread, applied on the main loop's turn."""

from __future__ import annotations

import mido
import pytest

from liveimpro.config.settings import ClockSettings
from liveimpro.control.protocol import COMMANDS, PARAMETERS, Request, parse_request
from tests.controlrig import BAR_TICKS, MS_PER_TICK, STEP_MS, ControlRig
from tests.midicheck import stuck_notes


@pytest.fixture
def rig(random_model_dir) -> ControlRig:
    return ControlRig(random_model_dir)


EXAMPLES = {"set": {"name": "top_k", "value": 5}, "load_model": {"name": "tiny"}}


def test_every_command_has_a_handler(rig) -> None:
    for command in COMMANDS:
        reply = rig.ask(command, **EXAMPLES.get(command, {}))
        assert isinstance(reply["ok"], bool), command


def test_set_replies_at_once_and_applies_at_the_next_turn(rig) -> None:
    reply = rig.ask("set", name="temperature", value=0.5)
    assert reply == {"ok": True, "name": "temperature", "value": 0.5}
    assert rig.ask("get", name="temperature") == {"ok": True, "name": "temperature", "value": 0.5}
    assert rig.improviser.continuation.sampler.params.temperature == 1.0  # not yet
    rig.wait(STEP_MS)
    assert rig.improviser.continuation.sampler.params.temperature == 0.5
    assert rig.log.of("param_changed") == [
        {"name": "temperature", "value": 0.5, "source": "control"}
    ]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("temperature", 7, "sampling.temperature must be in (0, 5], got 7.0"),
        ("temperature", 0, "sampling.temperature must be in (0, 5], got 0.0"),
        ("temperature", "hot", "sampling.temperature must be of type float, got str"),
        ("top_k", 2.5, "sampling.top_k must be of type int, got float"),
        ("thru", 1, "daemon.thru must be of type bool, got int"),
        ("quantize", "bars", "response.quantize must be one of 'immediate', 'beat', 'bar'"),
        ("tempo", 301, "clock.bpm must be in [20, 300], got 301.0"),
        ("channel", 0, "response.channel must be in [1, 16], got 0"),
        ("scale", "H minor", "sampling.scale must be 'off', 'phrase' or a tonic"),
        ("scale", 3, "sampling.scale must be of type str, got int"),
    ],
)
def test_set_rejects_wrong_types_and_ranges_naming_the_range(rig, name, value, message) -> None:
    reply = rig.ask("set", name=name, value=value)
    assert reply["ok"] is False
    assert reply["error"].startswith(f"set: {message}")
    rig.wait(STEP_MS)
    assert rig.log.of("param_changed") == []


def test_a_scale_lock_reaches_the_sampling_mask(rig) -> None:
    assert rig.ask("set", name="scale", value="D dorian")["ok"]
    rig.wait(STEP_MS)
    assert rig.improviser.continuation.mask.scale == {2, 4, 5, 7, 9, 11, 0}


def test_every_parameter_can_be_set_to_its_default(rig) -> None:
    for name, (section_cls, key) in PARAMETERS.items():
        value = getattr(getattr(rig.settings, section_cls.SECTION), key)
        assert rig.ask("set", name=name, value=value)["ok"], name
    rig.wait(STEP_MS)
    assert rig.improviser.settings == rig.settings


def test_get_without_a_name_gives_every_parameter(rig) -> None:
    parameters = rig.ask("get")["parameters"]
    assert list(parameters) == list(PARAMETERS)
    assert parameters["temperature"] == 1.0 and parameters["tempo"] == 120.0


def test_tempo_changes_the_clock_from_now(rig) -> None:
    rig.wait(10 * MS_PER_TICK)
    tick_before = rig.clock.tick_at(rig.now)
    assert rig.ask("set", name="tempo", value=250)["ok"]
    rig.wait(STEP_MS)
    assert rig.clock.bpm == 250
    assert rig.clock.tick_at(rig.now) == pytest.approx(tick_before + STEP_MS / MS_PER_TICK)
    assert rig.log.of("tempo") == [{"bpm": 250.0}]


def test_tempo_is_refused_while_following_an_external_clock(random_model_dir) -> None:
    rig = ControlRig(random_model_dir, clock=ClockSettings(source="external"))
    reply = rig.ask("set", name="tempo", value=100)
    assert not reply["ok"] and "external MIDI clock" in reply["error"]


def test_a_tempo_change_in_a_response_never_ends_a_note_before_it_starts(rig) -> None:
    rig.phrase()
    rig.wait_for("responding")
    for bpm in (300, 20, 300, 40, 280):
        rig.wait(3 * MS_PER_TICK)
        assert rig.ask("set", name="tempo", value=bpm)["ok"]
    rig.wait(60_000)
    assert rig.improviser.state == "listening"
    assert stuck_notes(rig.everything_sent()) == set()


def test_a_channel_change_in_a_response_leaves_no_note_hanging(rig) -> None:
    rig.phrase()
    rig.wait_for("responding")
    while not rig.scheduler.sounding:
        rig.wait(STEP_MS)
    assert rig.ask("set", name="channel", value=5)["ok"]
    rig.wait(10_000)
    sent = rig.everything_sent()
    assert stuck_notes(sent) == set()
    assert {m.channel for m in rig.notes_on(rig.now - 9000)} <= {4}


def test_panic_silences_the_response_and_drops_the_phrase(rig) -> None:
    rig.phrase()
    rig.wait_for("responding")
    rig.play(mido.Message("note_on", note=70, velocity=80))  # barge-in: a new phrase begins
    assert rig.improviser.capture.active
    assert rig.ask("panic") == {"ok": True}
    rig.wait(STEP_MS)
    assert not rig.improviser.capture.active and not rig.scheduler.playing
    assert rig.port.scheduled == []
    assert rig.log.of("action") == [{"name": "panic", "source": "control"}]
    assert rig.log.of("phrase_end")[-1] == {
        "tick": rig.log.of("phrase_start")[-1]["tick"],
        "dropped": True,
    }


def test_muted_phrases_are_not_answered_until_unmute(rig) -> None:
    rig.phrase()
    rig.wait_for("responding")
    assert rig.ask("mute")["ok"]
    rig.wait(STEP_MS)
    assert not rig.scheduler.playing
    assert rig.ask("status")["state"] == "muted"
    rig.wait(2000)
    rig.phrase()
    rig.wait(3000)
    assert rig.log.topics().count("response_start") == 1
    assert rig.ask("unmute")["ok"]
    rig.phrase()
    rig.wait_for("responding")
    assert rig.log.topics().count("response_start") == 2
    rig.wait_for("listening")
    assert stuck_notes(rig.everything_sent()) == set()


def played_after(rig: ControlRig, start_tick: int) -> list[tuple[int, int, int]]:
    """(tick relative to start, note, velocity) of the note-ons from ``start_tick`` on."""
    origin = rig.clock.time_of(start_tick)
    return [
        (round((m.time - origin) / MS_PER_TICK), m.note, m.velocity) for m in rig.notes_on(origin)
    ]


def test_loop_replays_the_last_response_from_a_bar_line(rig) -> None:
    rig.phrase()
    rig.wait_for("responding")
    first_start = rig.scheduler.start_tick
    rig.wait_for("listening")
    original = played_after(rig, first_start)
    assert original
    assert rig.ask("loop")["ok"]
    rig.wait(STEP_MS)
    looped_start = rig.scheduler.start_tick
    assert (looped_start - first_start) % BAR_TICKS == 0 and looped_start > first_start
    rig.wait_for("listening")
    assert played_after(rig, looped_start) == original
    starts = rig.log.of("response_start")
    assert [start["kind"] for start in starts] == ["answer", "loop"]
    end = rig.log.of("response_end")[-1]
    assert end == {"kind": "loop", "notes": len(original), "tick": rig.scheduler.end_tick}


def test_mutate_resamples_from_the_same_primed_state(rig) -> None:
    rng = rig.improviser.continuation.sampler.rng
    seeded = rng.bit_generator.state  # nothing is sampled before the first response
    rig.phrase()
    rig.wait_for("responding")
    first_start = rig.scheduler.start_tick
    rig.wait_for("listening")
    original = played_after(rig, first_start)
    assert rig.ask("mutate")["ok"]
    rig.wait(STEP_MS)
    mutated_start = rig.scheduler.start_tick
    assert (mutated_start - first_start) % BAR_TICKS == 0
    rig.wait_for("listening")
    assert played_after(rig, mutated_start) != original  # new draws, new notes
    # The same draws from the same primed state give the original again.
    rng.bit_generator.state = seeded
    assert rig.ask("mutate")["ok"]
    rig.wait(STEP_MS)
    again_start = rig.scheduler.start_tick
    rig.wait_for("listening")
    assert played_after(rig, again_start) == original


def test_loop_and_mutate_are_refused_with_a_reason(rig) -> None:
    assert rig.ask("loop") == {"ok": False, "error": "loop: no response has played yet"}
    rig.phrase()
    rig.wait_for("responding")
    rig.wait_for("listening")
    rig.play(mido.Message("note_on", note=70, velocity=80))
    reply = rig.ask("mutate")
    assert not reply["ok"] and "a phrase is being played" in reply["error"]


def test_load_model_swaps_between_phrases_without_a_hanging_note(rig, random_model_dir) -> None:
    old = rig.improviser.continuation
    rig.phrase()
    rig.wait_for("responding")
    reply = rig.ask("load_model", name=str(random_model_dir))
    assert reply == {"ok": True, "model": "tiny", "takes_effect": "at the next phrase"}
    rig.wait(STEP_MS)
    assert rig.improviser.continuation is old  # the answer plays on
    assert rig.ask("status")["next_model"] == "tiny"
    rig.wait_for("listening")
    rig.wait(STEP_MS)
    assert rig.improviser.continuation is not old
    assert rig.log.of("model_changed") == [{"model": "tiny"}]
    rig.phrase()
    rig.wait_for("responding")
    rig.wait_for("listening")
    assert stuck_notes(rig.everything_sent()) == set()
    reply = rig.ask("mutate")
    assert reply["ok"]  # the new take came from the new model


def test_load_model_names_an_unknown_model(rig) -> None:
    reply = rig.ask("load_model", name="no-such-model")
    assert not reply["ok"] and "no such model; available in" in reply["error"]


def test_status_reports_state_model_tempo_clock_parameters_and_counters(rig) -> None:
    rig.phrase()
    rig.wait_for("responding")
    rig.wait_for("listening")
    status = rig.ask("status")
    assert status["state"] == "listening" and status["model"] == "tiny"
    assert status["tempo"] == 125.0
    assert status["clock"] == {"source": "internal", "rolling": True}
    assert status["parameters"]["temperature"] == 1.0
    counters = status["counters"]
    assert counters["phrases"] == 1 and counters["responses"] == 1
    assert counters["notes_out"] == len(rig.notes_on())
    assert counters["last_response_latency_ms"] > 0


def test_a_temperature_change_in_a_response_is_heard_within_a_beat(random_model_dir) -> None:
    """Two identical performances; in one, the temperature drops a beat into the answer."""
    runs = []
    for change in (False, True):
        rig = ControlRig(random_model_dir)
        continuation = rig.improviser.continuation
        sampler = continuation.sampler
        draws = []  # (tick the token is drawn at, temperature it is drawn with)

        def sample(logits, mask, sampler=sampler, draws=draws, continuation=continuation):
            draws.append((continuation.tick, sampler.params.temperature))
            return type(sampler).sample(sampler, logits, mask)

        sampler.sample = sample
        rig.phrase()
        rig.wait_for("responding")
        start = rig.scheduler.start_tick
        rig.wait(24 * MS_PER_TICK)
        changed_at = rig.clock.current_tick(rig.now)
        if change:
            assert rig.ask("set", name="temperature", value=0.05)["ok"]
        rig.wait_for("listening")
        runs.append((rig, start, changed_at, draws))
    (plain, start, _, _), (changed, _, changed_at, draws) = runs
    cold = [tick for tick, temperature in draws if temperature == 0.05]
    assert cold and min(cold) <= changed_at + 24  # the first cold draw is within a beat
    assert all(temperature == 0.05 for tick, temperature in draws if tick >= min(cold))
    assert played_after(plain, start) != played_after(changed, start)
    assert changed.log.of("param_changed") == [
        {"name": "temperature", "value": 0.05, "source": "control"}
    ]


def test_parse_then_answer_rejects_unknown_parameters(rig) -> None:
    with pytest.raises(ValueError, match="unknown name 'bogus'"):
        parse_request(b'{"cmd":"set","name":"bogus","value":1}', 1000)
    assert Request("ping") == parse_request(b'{"cmd":"ping"}', 1000)
