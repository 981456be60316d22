"""The MIDI controller map, through the Controls it feeds: values, buttons, model selection."""

from __future__ import annotations

import mido
import pytest

from liveimpro.config.settings import CcSettings, DaemonSettings, PhraseSettings, Settings
from liveimpro.control.ccmap import CcMap
from tests.controlrig import STEP_MS, ControlRig


def cc_rig(model_dir, **mapping) -> ControlRig:
    return ControlRig(model_dir, cc=CcSettings(**mapping))


def test_a_controller_sets_the_temperature_linearly(random_model_dir) -> None:
    rig = cc_rig(random_model_dir, temperature=21, temperature_low=0.5, temperature_high=1.5)
    rig.play(mido.Message("control_change", control=21, value=127))
    rig.wait(STEP_MS)
    assert rig.improviser.continuation.sampler.params.temperature == 1.5
    rig.play(mido.Message("control_change", control=21, value=0))
    rig.wait(STEP_MS)
    assert rig.improviser.continuation.sampler.params.temperature == 0.5
    rig.play(mido.Message("control_change", control=21, value=127 // 2))
    rig.wait(STEP_MS)
    assert rig.ask("get", name="temperature")["value"] == pytest.approx(0.5 + 63 / 127)
    assert [e["source"] for e in rig.log.of("param_changed")] == ["cc"] * 3


def test_a_controller_sets_the_response_length(random_model_dir) -> None:
    rig = cc_rig(random_model_dir, response_beats=22, response_beats_low=2, response_beats_high=10)
    rig.play(mido.Message("control_change", control=22, value=127))
    rig.wait(STEP_MS)
    rig.phrase()
    rig.wait_for("responding")
    assert rig.scheduler.end_tick - rig.scheduler.start_tick == 10 * 24


def test_a_button_acts_once_per_press(random_model_dir) -> None:
    rig = cc_rig(random_model_dir, panic=23)
    for value in (127, 100, 0, 127):
        rig.play(mido.Message("control_change", control=23, value=value))
        rig.wait(STEP_MS)
    assert rig.log.of("action") == [{"name": "panic", "source": "cc"}] * 2


def test_a_refused_controller_action_is_a_warning(random_model_dir) -> None:
    rig = cc_rig(random_model_dir, loop=24)
    rig.play(mido.Message("control_change", control=24, value=127))
    rig.wait(STEP_MS)
    assert rig.log.of("warning") == [{"message": "loop: no response has played yet"}]


def test_mapped_controllers_are_not_echoed_and_others_pass(random_model_dir) -> None:
    rig = ControlRig(random_model_dir, cc=CcSettings(panic=23), daemon=DaemonSettings(thru=True))
    rig.play(mido.Message("control_change", control=23, value=127))
    rig.play(mido.Message("control_change", control=1, value=5))
    controls = [m.control for m in rig.port.sent if m.type == "control_change" and m.value]
    assert controls == [1]


def test_the_model_selector_loads_the_picked_model(random_model_dir) -> None:
    rig = cc_rig(random_model_dir, model_select=25)
    old = rig.improviser.continuation
    rig.play(mido.Message("control_change", control=25, value=0))
    rig.controls.loader.close()  # waits for the load to finish
    rig.wait(STEP_MS)
    rig.wait(STEP_MS)
    assert rig.improviser.continuation is not old
    assert rig.log.of("model_changed") == [{"model": "tiny"}]


def test_a_controller_cannot_take_the_sustain_pedal_or_the_end_phrase_cc(random_model_dir):
    with pytest.raises(ValueError, match=r"cc\.panic = 64 is the sustain pedal"):
        cc_rig(random_model_dir, panic=64)
    with pytest.raises(ValueError, match=r"cc\.loop = 30 is phrase\.end_cc"):
        ControlRig(random_model_dir, cc=CcSettings(loop=30), phrase=PhraseSettings(end_cc=30))


def test_one_controller_cannot_be_mapped_twice() -> None:
    with pytest.raises(ValueError, match="one controller mapped twice"):
        CcSettings(panic=20, loop=20)


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", control=control, value=value, channel=channel)


def test_only_mapped_controllers_on_the_controller_channel_are_claimed() -> None:
    ccmap = CcMap(Settings(cc=CcSettings(channel=2, temperature=21)), models=[])
    assert ccmap.claims(cc(21, 5, channel=1))
    assert not ccmap.claims(cc(21, 5, channel=0))
    assert not ccmap.claims(cc(22, 5, channel=1))
    assert not ccmap.claims(mido.Message("note_on", note=21, channel=1))


def test_a_value_maps_linearly_onto_the_range() -> None:
    ccmap = CcMap(Settings(cc=CcSettings(response_beats=7)), models=[])
    values = [ccmap.translate(cc(7, value)).params["value"] for value in (0, 127)]
    assert values == [1.0, 32.0]
    assert ccmap.translate(cc(7, 127)).params["name"] == "response_beats"


def test_the_model_selector_splits_the_range_evenly_and_loads_on_a_change_only() -> None:
    ccmap = CcMap(Settings(cc=CcSettings(model_select=9)), models=["a", "b", "c"])
    picks = [ccmap.translate(cc(9, value)) for value in (0, 10, 42, 43, 85, 86, 127)]
    names = [None if pick is None else pick.params["name"] for pick in picks]
    assert names == ["a", None, None, "b", None, "c", None]
    assert CcMap(Settings(cc=CcSettings(model_select=9)), models=[]).translate(cc(9, 5)) is None


def test_the_scale_controller_locks_to_the_phrase_key_and_unlocks(random_model_dir) -> None:
    rig = cc_rig(random_model_dir, scale=23)
    rig.play(mido.Message("control_change", control=23, value=100))
    rig.wait(STEP_MS)
    assert rig.improviser.continuation.sampler.params.scale == "phrase"
    rig.play(mido.Message("control_change", control=23, value=10))
    rig.wait(STEP_MS)
    assert rig.ask("get", name="scale")["value"] == "off"
