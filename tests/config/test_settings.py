"""Tests for liveimpro.config.settings: the spec-driven checks, TOML loading and config.toml."""

from __future__ import annotations

import dataclasses
import itertools
import re
import tomllib
from pathlib import Path
from typing import Any, ClassVar

import pytest

from liveimpro.config.fields import Section, check_fields, check_value, field_specs, setting
from liveimpro.config.settings import (
    AdaptationSettings,
    ClockSettings,
    ModelSettings,
    NotesSettings,
    SamplingSettings,
    Settings,
    load_settings,
    section_types,
    settings_toml,
)
from liveimpro.models import SHIPPED_MODELS_DIR

CONFIG_TOML = Path(__file__).resolve().parents[2] / "config.toml"


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


# config.toml and the defaults ------------------------------------------------


def test_config_toml_loads_to_the_defaults() -> None:
    assert load_settings(CONFIG_TOML) == Settings()
    assert load_settings() == Settings()


def test_config_toml_lists_every_setting() -> None:
    data = tomllib.loads(CONFIG_TOML.read_text())
    assert list(data) == list(section_types())
    for name, section_cls in section_types().items():
        assert list(data[name]) == list(field_specs(section_cls)), name


def test_config_toml_comment_above_each_key_is_its_doc_and_range() -> None:
    lines = CONFIG_TOML.read_text().splitlines()
    section = None
    checked = 0
    for previous, line in itertools.pairwise(lines):
        if header := re.match(r"\[(\w+)\]", line):
            section = section_types()[header[1]]
        elif key := re.match(r"(\w+) = ", line):
            spec = field_specs(section)[key[1]]
            expected = f"# {spec.doc}; {spec.allowed()}" if spec.allowed() else f"# {spec.doc}"
            assert previous == expected, key[1]
            checked += 1
    assert checked == sum(len(field_specs(cls)) for cls in section_types().values())


def test_section_names_match_the_settings_fields() -> None:
    for name, section_cls in section_types().items():
        assert name == section_cls.SECTION


# Loading -----------------------------------------------------------------------


def test_missing_keys_keep_their_defaults(tmp_path: Path) -> None:
    settings = load_settings(write_toml(tmp_path, "[sampling]\ntop_k = 40\n"))
    assert settings.sampling == SamplingSettings(top_k=40)
    assert settings.notes == NotesSettings()


def test_unknown_section_is_named_with_the_allowed_ones(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[smapling]\ntop_k = 40\n")
    with pytest.raises(ValueError, match=r"\[smapling\].*model, sampling, notes") as caught:
        load_settings(path)
    assert str(path) in str(caught.value)


def test_unknown_key_is_named_with_the_allowed_ones(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[sampling]\ntopk = 40\n")
    with pytest.raises(ValueError, match=r"sampling\.topk.*temperature, top_k, top_p, seed"):
        load_settings(path)


def test_section_that_is_not_a_table_is_a_type_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"\[sampling\] must be a table, got int"):
        load_settings(write_toml(tmp_path, "sampling = 3\n"))


def test_bad_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[sampling]\ntop_k = 40\ntemperature = = 1\n")
    with pytest.raises(ValueError, match=r"line 3") as caught:
        load_settings(path)
    assert str(path) in str(caught.value)


def test_value_errors_from_a_file_name_the_file_and_key(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[sampling]\ntemperature = 7.0\n")
    with pytest.raises(ValueError, match=r"sampling\.temperature must be in \(0, 5\], got 7\.0"):
        load_settings(path)


def test_int_in_toml_is_accepted_for_a_float(tmp_path: Path) -> None:
    settings = load_settings(write_toml(tmp_path, "[continuation]\nbeats = 8\n"))
    assert settings.continuation.beats == 8.0
    assert type(settings.continuation.beats) is float


# check_value and construction ----------------------------------------------------


@pytest.mark.parametrize(
    ("section_cls", "key", "value", "expected"),
    [
        (SamplingSettings, "temperature", "hot", "float"),
        (SamplingSettings, "top_k", 1.5, "int"),
        (SamplingSettings, "seed", "7", "int"),
        (ModelSettings, "name", 3, "str"),
        (NotesSettings, "max_polyphony", None, "int"),
    ],
)
def test_wrong_type_names_key_and_expected_type(
    section_cls: type[Section], key: str, value: Any, expected: str
) -> None:
    name = f"{section_cls.SECTION}.{key}"
    with pytest.raises(TypeError, match=rf"{re.escape(name)} must be of type {expected}, got"):
        check_value(section_cls, key, value)
    with pytest.raises(TypeError, match=re.escape(name)):
        section_cls(**{key: value})


@pytest.mark.parametrize(
    ("section_cls", "key", "value", "allowed"),
    [
        (SamplingSettings, "temperature", 7.0, "in (0, 5]"),
        (SamplingSettings, "temperature", 0.0, "in (0, 5]"),
        (SamplingSettings, "temperature", float("nan"), "in (0, 5]"),
        (SamplingSettings, "top_k", -1, "in [0, 1000]"),
        (SamplingSettings, "top_p", 1.01, "in (0, 1]"),
        (SamplingSettings, "seed", 2**32, "in [-1, 4294967295]"),
        (NotesSettings, "max_polyphony", 0, "in [1, 16]"),
        (NotesSettings, "pitch_high", 128, "in [0, 127]"),
        (NotesSettings, "max_note_beats", 0, "in (0, 64]"),
    ],
)
def test_out_of_range_names_key_and_range(
    section_cls: type[Section], key: str, value: Any, allowed: str
) -> None:
    message = f"{section_cls.SECTION}.{key} must be {allowed}, got"
    with pytest.raises(ValueError, match=re.escape(message)):
        check_value(section_cls, key, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        section_cls(**{key: value})


@pytest.mark.parametrize(
    ("section_cls", "key", "value"),
    [
        (SamplingSettings, "temperature", 5.0),
        (SamplingSettings, "top_p", 1.0),
        (SamplingSettings, "top_k", 0),
        (SamplingSettings, "seed", -1),
        (SamplingSettings, "seed", 2**32 - 1),
        (NotesSettings, "pitch_low", 0),
    ],
)
def test_values_on_an_inclusive_bound_are_accepted(
    section_cls: type[Section], key: str, value: Any
) -> None:
    assert check_value(section_cls, key, value) == value


@pytest.mark.parametrize(
    ("section_cls", "key", "value"),
    [
        (SamplingSettings, "top_k", True),
        (SamplingSettings, "temperature", True),
        (NotesSettings, "max_polyphony", False),
    ],
)
def test_bool_is_not_a_number(section_cls: type[Section], key: str, value: bool) -> None:
    with pytest.raises(TypeError, match="got bool"):
        check_value(section_cls, key, value)


def test_int_is_accepted_and_converted_for_a_float() -> None:
    assert check_value(SamplingSettings, "temperature", 2) == 2.0
    sampling = SamplingSettings(temperature=2)
    assert type(sampling.temperature) is float


def test_check_value_rejects_an_unknown_key() -> None:
    with pytest.raises(ValueError, match=r"unknown key sampling\.heat; allowed: temperature"):
        check_value(SamplingSettings, "heat", 1.0)


def test_pitch_low_above_pitch_high_names_both() -> None:
    with pytest.raises(ValueError, match=r"pitch_low.*pitch_high.*pitch_low=80 > pitch_high=60"):
        NotesSettings(pitch_low=80, pitch_high=60)
    assert NotesSettings(pitch_low=60, pitch_high=60).pitch_low == 60


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.sampling.temperature = 2.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.sampling = SamplingSettings()  # type: ignore[misc]


def test_replace_runs_the_same_checks() -> None:
    sampling = SamplingSettings()
    assert dataclasses.replace(sampling, top_p=0.5).top_p == 0.5
    with pytest.raises(ValueError, match=r"sampling\.top_p must be in \(0, 1\]"):
        dataclasses.replace(sampling, top_p=0.0)


def test_settings_fields_must_be_their_sections() -> None:
    with pytest.raises(TypeError, match=r"settings\.sampling must be a SamplingSettings"):
        Settings(sampling=NotesSettings())  # type: ignore[arg-type]


def test_a_new_section_only_needs_setting_fields() -> None:
    @dataclasses.dataclass(frozen=True)
    class DemoSettings(Section):
        SECTION: ClassVar[str] = "demo"

        mode: str = setting("fast", "how to run", choices=("fast", "safe"))
        timeout: float = setting(1.0, "seconds to wait", low=0, low_exclusive=True)

    assert DemoSettings(mode="safe").mode == "safe"
    with pytest.raises(ValueError, match=r"demo\.mode must be one of 'fast', 'safe', got 'slow'"):
        DemoSettings(mode="slow")
    with pytest.raises(ValueError, match=r"demo\.timeout must be > 0, got -1\.0"):
        DemoSettings(timeout=-1)


def test_plain_options_are_checked_by_the_same_specs() -> None:
    @dataclasses.dataclass(frozen=True)
    class Options:
        workers: int = setting(2, "processes", low=1, high=64)
        rate: float = setting(1.0, "per second", low=0, low_exclusive=True)
        limit: int | None = setting(None, "first items; None for all", low=1)
        name: str = "free"  # no spec: not checked

        def __post_init__(self) -> None:
            check_fields(self)

    assert Options(rate=2).rate == 2.0 and isinstance(Options(rate=2).rate, float)
    assert Options(limit=None).limit is None and Options(limit=3).limit == 3
    with pytest.raises(ValueError, match=r"^workers must be in \[1, 64\], got 65$"):
        Options(workers=65)
    with pytest.raises(TypeError, match=r"^workers must be of type int, got float$"):
        Options(workers=2.0)
    with pytest.raises(ValueError, match=r"^limit must be >= 1, got 0$"):
        Options(limit=0)
    with pytest.raises(TypeError, match=r"^limit must be of type int, got bool$"):
        Options(limit=True)


# Model location ----------------------------------------------------------------


def test_models_path_defaults_to_the_shipped_models_the_repository_folder(tmp_path: Path) -> None:
    assert ModelSettings().models_path() == SHIPPED_MODELS_DIR
    assert ModelSettings(models_dir=str(tmp_path)).models_path() == tmp_path
    assert CONFIG_TOML.parent / "models" == SHIPPED_MODELS_DIR  # an editable install's


def test_empty_model_name_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"model\.name"):
        ModelSettings(name="")


def test_int_is_not_a_bool() -> None:
    with pytest.raises(TypeError, match=r"adaptation\.enabled must be of type bool, got int"):
        AdaptationSettings(enabled=1)


def test_settings_toml_reads_back_to_the_same_settings(tmp_path: Path) -> None:
    changed = Settings(
        model=ModelSettings(name='odd "name" \\ é', models_dir="/tmp/m"),
        sampling=SamplingSettings(temperature=0.3, top_k=7, seed=12),
        adaptation=AdaptationSettings(enabled=True, bias=1e-05),
    )
    for settings in (Settings(), changed):
        assert load_settings(write_toml(tmp_path, settings_toml(settings))) == settings


def test_following_an_external_clock_cannot_also_send_clock() -> None:
    with pytest.raises(ValueError, match=r"clock\.send_clock must be false with clock\.source"):
        ClockSettings(source="external", send_clock=True)
    assert ClockSettings(source="external").send_clock is False
    with pytest.raises(ValueError, match=r"clock\.source must be one of 'internal', 'external'"):
        ClockSettings(source="midi")
