"""Typed, frozen settings read from ``config.toml``: the sections, and loading and writing them.

Each TOML section is a frozen dataclass (a :class:`Section`, see liveimpro.config.fields, where
each field's checks come from).

Adding a section: write a ``Section`` subclass with ``SECTION = "name"`` and its fields, add it as
a field of :class:`Settings` under the same name, and list its keys in ``config.toml``.
"""

from __future__ import annotations

import json
import tomllib
import typing
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from liveimpro.config.fields import Section, check_known, field_specs, setting
from liveimpro.errors import SettingTypeError, SettingValueError, UserError
from liveimpro.models import SHIPPED_MODELS_DIR
from liveimpro.music.midinumbers import MAX_DATA_BYTE, MIDI_CHANNELS
from liveimpro.music.tonality import parse_scale

# Ranges that other layers check too, for values that do not come from settings.
MIN_BPM, MAX_BPM = 20, 300  # the tempi a clock keeps (liveimpro.live.clock)
MAX_POLYPHONY = 16  # the most notes the sampler may keep sounding (core.sampling.NoteLimits)


@dataclass(frozen=True)
class ModelSettings(Section):
    """Which trained model the improviser plays with."""

    SECTION = "model"

    name: str = setting("folk", "model name under models_dir, or a path to a model directory")
    models_dir: str = setting(
        "", "folder of named models; empty = the models shipped with liveimpro"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.name:
            raise SettingValueError("model.name must be a model name or a path, got ''")

    def models_path(self) -> Path:
        """The folder of named models (a relative ``models_dir`` is taken from the cwd)."""
        return Path(self.models_dir).expanduser() if self.models_dir else SHIPPED_MODELS_DIR


@dataclass(frozen=True)
class SamplingSettings(Section):
    """How the next token is drawn from the model's distribution."""

    SECTION = "sampling"

    temperature: float = setting(1.0, "softmax temperature", low=0, high=5, low_exclusive=True)
    top_k: int = setting(0, "sample among the k likeliest tokens; 0 = off", low=0, high=1000)
    top_p: float = setting(
        0.95,
        "keep the likeliest tokens up to this total probability",
        low=0,
        high=1,
        low_exclusive=True,
    )
    seed: int = setting(-1, "random seed; -1 = a fresh seed each run", low=-1, high=2**32 - 1)
    scale: str = setting(
        "off",
        "answer only in a scale: 'off', 'phrase' (the key found in the phrase) or a tonic and"
        " a mode such as 'D dorian'",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            parse_scale(self.scale)
        except ValueError as error:  # parse_scale's own check of the text
            raise SettingValueError(f"sampling.{error}") from None


@dataclass(frozen=True)
class NotesSettings(Section):
    """Limits on the notes the improviser plays."""

    SECTION = "notes"

    max_polyphony: int = setting(8, "most notes sounding at once", low=1, high=MAX_POLYPHONY)
    pitch_low: int = setting(21, "lowest MIDI pitch played (21 = A0)", low=0, high=MAX_DATA_BYTE)
    pitch_high: int = setting(
        108, "highest MIDI pitch played (108 = C8)", low=0, high=MAX_DATA_BYTE
    )
    max_note_beats: float = setting(
        4.0, "longest note, in beats; longer ones are cut", low=0, high=64, low_exclusive=True
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pitch_low > self.pitch_high:
            raise SettingValueError(
                f"notes.pitch_low must be <= notes.pitch_high, "
                f"got pitch_low={self.pitch_low} > pitch_high={self.pitch_high}"
            )


@dataclass(frozen=True)
class ContinuationSettings(Section):
    """How long an answer to a phrase is and how its bars are counted."""

    SECTION = "continuation"

    beats: float = setting(
        16.0, "length of a continuation, in beats", low=0, high=1024, low_exclusive=True
    )
    beats_per_bar: int = setting(4, "beats in a bar (the meter the model is told)", low=1, high=16)


@dataclass(frozen=True)
class AdaptationSettings(Section):
    """Adapting to the performance: a short-term model mixed into the network's predictions."""

    SECTION = "adaptation"

    enabled: bool = setting(
        False, "mix in a model of the tokens heard in this performance (experimental)"
    )
    order: int = setting(8, "longest context of the short-term model, in tokens", low=1, high=20)
    bias: float = setting(
        0.5, "entropy weighting exponent; higher favours the more certain model", low=0, high=10
    )


MIDI_APIS = ("jack", "alsa", "coremidi", "winmm")


@dataclass(frozen=True)
class DaemonSettings(Section):
    """Which MIDI ports the daemon plays on and what it listens to."""

    SECTION = "daemon"

    api: str = setting("jack", "MIDI API; jack gives frame-accurate timing", choices=MIDI_APIS)
    input: str = setting("", "port to listen to (exact name or unique part); empty = our own port")
    output: str = setting("", "port to play to (exact name or unique part); empty = our own port")
    channel: int = setting(0, "MIDI channel listened to; 0 = all", low=0, high=MIDI_CHANNELS)
    thru: bool = setting(False, "echo the performer's notes to the output")


@dataclass(frozen=True)
class PhraseSettings(Section):
    """When the performer's phrase is over."""

    SECTION = "phrase"

    silence_beats: float = setting(
        2.0, "silence that ends a phrase, in beats", low=0, high=64, low_exclusive=True
    )
    end_cc: int = setting(
        -1, "controller that ends a phrase at once; -1 = none", low=-1, high=MAX_DATA_BYTE
    )
    max_beats: float = setting(
        32.0, "longest phrase, in beats; it ends there", low=0, high=1024, low_exclusive=True
    )
    min_notes: int = setting(2, "shorter phrases are ignored, in notes", low=1, high=1000)


@dataclass(frozen=True)
class ResponseSettings(Section):
    """When and how the improviser answers a phrase."""

    SECTION = "response"

    length: str = setting(
        "fixed",
        "fixed = continuation.beats; proportional = proportion x the phrase's length",
        choices=("fixed", "proportional"),
    )
    proportion: float = setting(
        1.0, "response length over phrase length", low=0, high=16, low_exclusive=True
    )
    quantize: str = setting(
        "beat", "where a response may start", choices=("immediate", "beat", "bar")
    )
    channel: int = setting(1, "MIDI channel the response plays on", low=1, high=MIDI_CHANNELS)
    program: int = setting(
        -1, "program change sent at start; -1 = none", low=-1, high=MAX_DATA_BYTE
    )
    velocity_follow: float = setting(
        0.5, "0 = model velocities, 1 = the phrase's mean velocity", low=0, high=1
    )
    on_new_phrase: str = setting(
        "barge_in",
        "playing during a response: barge_in stops it, overlap lets it finish",
        choices=("barge_in", "overlap"),
    )
    lookahead_beats: float = setting(
        0.5, "how far ahead of the clock notes are generated", low=0, high=1, low_exclusive=True
    )


@dataclass(frozen=True)
class ClockSettings(Section):
    """The tempo clock: our own, or a MIDI clock on the input that we follow."""

    SECTION = "clock"

    source: str = setting(
        "internal",
        "internal = our own clock at bpm; external = follow the MIDI clock on the input",
        choices=("internal", "external"),
    )
    bpm: float = setting(
        120.0,
        "tempo, in beats per minute; external: until the pulses tell",
        low=MIN_BPM,
        high=MAX_BPM,
    )
    send_clock: bool = setting(
        False, "send MIDI start and clock (24 per beat) on the output; internal source only"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.source == "external" and self.send_clock:
            raise SettingValueError(
                "clock.send_clock must be false with clock.source = 'external': "
                "the external source clocks the other devices"
            )


@dataclass(frozen=True)
class ControlSettings(Section):
    """The control plane: commands and events over ZeroMQ (README, Control)."""

    SECTION = "control"

    enabled: bool = setting(True, "serve commands and publish events while the daemon runs")
    address: str = setting("tcp://127.0.0.1:5555", "ZeroMQ endpoint of the command socket (REP)")
    events: str = setting("tcp://127.0.0.1:5556", "ZeroMQ endpoint of the event socket (PUB)")
    max_frame_bytes: int = setting(
        65536, "longest command, in bytes; longer ones get an error reply", low=256, high=1048576
    )
    server_secret_key: str = setting(
        "", "CURVE: the daemon's secret key file (liveimpro keygen); empty = loopback only"
    )
    client_public_keys: str = setting(
        "", "CURVE: folder of the public key files of allowed clients"
    )
    client_secret_key: str = setting("", "CURVE, for liveimpro ctl: this client's secret key file")
    server_public_key: str = setting("", "CURVE, for liveimpro ctl: the daemon's public key file")

    def __post_init__(self) -> None:
        super().__post_init__()
        for first, second in (
            ("server_secret_key", "client_public_keys"),
            ("client_secret_key", "server_public_key"),
        ):
            if bool(getattr(self, first)) != bool(getattr(self, second)):
                raise SettingValueError(
                    f"control.{first} and control.{second} go together: set both or neither"
                )


def _controller(target: str) -> Any:
    return setting(-1, f"controller for {target}; -1 = none", low=-1, high=MAX_DATA_BYTE)


@dataclass(frozen=True)
class CcSettings(Section):
    """MIDI controllers mapped to live parameters and actions (end-phrase: phrase.end_cc)."""

    SECTION = "cc"

    channel: int = setting(
        0, "MIDI channel the controllers send on; 0 = any", low=0, high=MIDI_CHANNELS
    )
    temperature: int = _controller("sampling.temperature, low to high")
    temperature_low: float = setting(
        0.1, "temperature at controller value 0", low=0, high=5, low_exclusive=True
    )
    temperature_high: float = setting(
        2.0, "temperature at controller value 127", low=0, high=5, low_exclusive=True
    )
    response_beats: int = _controller("the response length (continuation.beats)")
    response_beats_low: float = setting(
        1.0, "response length at controller value 0", low=0, high=1024, low_exclusive=True
    )
    response_beats_high: float = setting(
        32.0, "response length at controller value 127", low=0, high=1024, low_exclusive=True
    )
    panic: int = _controller("panic (value 64 or more)")
    loop: int = _controller("loop (value 64 or more)")
    mutate: int = _controller("mutate (value 64 or more)")
    model_select: int = _controller("the model: the value picks one of the models in name order")
    scale: int = _controller("sampling.scale: 64 or more locks to the phrase's key, less: off")

    def controllers(self) -> dict[str, int]:
        """Each mapped target and its controller number."""
        targets = (
            "temperature",
            "response_beats",
            "panic",
            "loop",
            "mutate",
            "model_select",
            "scale",
        )
        return {target: getattr(self, target) for target in targets if getattr(self, target) >= 0}

    def __post_init__(self) -> None:
        super().__post_init__()
        numbers = list(self.controllers().values())
        if len(set(numbers)) != len(numbers):
            raise SettingValueError(f"cc: one controller mapped twice: {self.controllers()}")


@dataclass(frozen=True)
class Settings:
    """All settings; each field is a section named as in ``config.toml``."""

    model: ModelSettings = field(default_factory=ModelSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    notes: NotesSettings = field(default_factory=NotesSettings)
    continuation: ContinuationSettings = field(default_factory=ContinuationSettings)
    adaptation: AdaptationSettings = field(default_factory=AdaptationSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    phrase: PhraseSettings = field(default_factory=PhraseSettings)
    response: ResponseSettings = field(default_factory=ResponseSettings)
    clock: ClockSettings = field(default_factory=ClockSettings)
    control: ControlSettings = field(default_factory=ControlSettings)
    cc: CcSettings = field(default_factory=CcSettings)

    def __post_init__(self) -> None:
        for name, section_cls in section_types().items():
            value = getattr(self, name)
            if not isinstance(value, section_cls):
                raise TypeError(  # built wrong in code: a bug, not a setting
                    f"settings.{name} must be a {section_cls.__name__}, got {type(value).__name__}"
                )


@cache
def section_types() -> dict[str, type[Section]]:
    """Each section's name and class, in ``Settings`` order."""
    return typing.get_type_hints(Settings)


def load_settings(path: str | Path | None = None) -> Settings:
    """The settings in a TOML file (None = all defaults); keys left out keep their defaults.

    Raises SettingValueError (prefixed with the file) for a TOML syntax error, an unknown
    section or key, or a value out of range; SettingTypeError for a section that is not a
    table or a value of wrong type.
    """
    if path is None:
        return Settings()
    path = Path(path)
    with path.open("rb") as file:
        try:
            data = tomllib.load(file)
        except tomllib.TOMLDecodeError as error:
            raise SettingValueError(f"{path}: invalid TOML: {error}") from error
    try:
        return _settings_from_tables(data)
    except UserError as error:
        raise type(error)(f"{path}: {error}") from error


def _settings_from_tables(data: dict[str, Any]) -> Settings:
    sections = section_types()
    built = {}
    for name, table in data.items():
        check_known(f"section [{name}]", name, sections)
        if not isinstance(table, dict):
            raise SettingTypeError(f"section [{name}] must be a table, got {type(table).__name__}")
        section_cls = sections[name]
        for key in table:
            check_known(f"key {name}.{key}", key, field_specs(section_cls))
        built[name] = section_cls(**table)
    return Settings(**built)


def settings_toml(settings: Settings) -> str:
    """Every setting of ``settings`` as TOML that ``load_settings`` reads back unchanged.

    For handing settings to a daemon started as a child process (the demo, the benchmarks).
    """
    lines = []
    for name, section_cls in section_types().items():
        section = getattr(settings, name)
        lines.append(f"[{name}]")
        lines += [
            f"{key} = {_toml_value(getattr(section, key))}" for key in field_specs(section_cls)
        ]
    return "\n".join(lines) + "\n"


def _toml_value(value: bool | int | float | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    return repr(value)
