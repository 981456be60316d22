"""Typed, checked fields for settings sections: what each key means and which values it allows.

A section is a frozen dataclass deriving from :class:`Section`; each key is a field declared
with :func:`setting`, whose :class:`FieldSpec` (doc, range, choices) is the one place its checks
come from. :func:`check_value` applies them, both when a section is constructed and when a single
value is changed later (``dataclasses.replace`` constructs, so it checks too).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any, ClassVar

from liveimpro.errors import SettingTypeError, SettingValueError

SPEC_KEY = "liveimpro.setting"


@dataclass(frozen=True)
class FieldSpec:
    """What one setting means and which values it allows (bounds are inclusive unless said)."""

    doc: str
    low: float | None = None
    high: float | None = None
    low_exclusive: bool = False
    choices: tuple[Any, ...] | None = None

    def allows(self, value: Any) -> bool:
        if self.choices is not None:
            return value in self.choices
        # Comparisons written so that NaN fails every bound.
        above_low = self.low is None or (
            value > self.low if self.low_exclusive else value >= self.low
        )
        return above_low and (self.high is None or value <= self.high)

    def allowed(self) -> str:
        """The allowed values in words, e.g. ``in (0, 5]``; empty when the type is enough."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(choice) for choice in self.choices)
        opening = "(" if self.low_exclusive else "["
        if self.low is not None and self.high is not None:
            return f"in {opening}{self.low}, {self.high}]"
        if self.low is not None:
            return f"{'>' if self.low_exclusive else '>='} {self.low}"
        if self.high is not None:
            return f"<= {self.high}"
        return ""


def setting(
    default: Any,
    doc: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_exclusive: bool = False,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A dataclass field for one setting, carrying its :class:`FieldSpec` in the metadata."""
    spec = FieldSpec(doc, low, high, low_exclusive, choices)
    return field(default=default, metadata={SPEC_KEY: spec})


class Section:
    """Base of every settings section: construction checks each field with :func:`check_value`."""

    SECTION: ClassVar[str]

    def __post_init__(self) -> None:
        for key in field_specs(type(self)):
            checked = check_value(type(self), key, getattr(self, key))
            object.__setattr__(self, key, checked)  # frozen; stores ints given for floats as floats


@cache
def field_specs(section_cls: type[Section]) -> dict[str, FieldSpec]:
    """The spec of every key of a section, in declaration order."""
    return {item.name: item.metadata[SPEC_KEY] for item in fields(section_cls)}


@cache
def _field_types(section_cls: type) -> dict[str, type]:
    # get_type_hints resolves the string annotations that ``from __future__`` leaves.
    return typing.get_type_hints(section_cls)


def field_type(section_cls: type[Section], key: str) -> type:
    """The Python type of ``section.key``: bool, int, float or str."""
    return _field_types(section_cls)[key]


def check_value(section_cls: type[Section], key: str, value: Any) -> Any:
    """``value`` checked for ``section.key`` and converted to the field's type (int -> float).

    Raises SettingValueError for an unknown key or a value out of range, SettingTypeError for
    a wrong type (a bool is never accepted as a number).
    """
    specs = field_specs(section_cls)
    name = f"{section_cls.SECTION}.{key}"
    check_known(f"key {name}", key, specs)
    return check_field(name, value, _field_types(section_cls)[key], specs[key])


def check_field(name: str, value: Any, expected: type, spec: FieldSpec) -> Any:
    """``value`` checked for the field ``name`` of type ``expected`` and converted to it.

    The one check behind every setting and option: SettingTypeError for a wrong type (a bool is
    never accepted as a number), SettingValueError naming the allowed values.
    """
    accepted = (int, float) if expected is float else (expected,)
    if not isinstance(value, accepted) or (isinstance(value, bool) and expected is not bool):
        raise SettingTypeError(
            f"{name} must be of type {expected.__name__}, got {type(value).__name__}"
        )
    value = expected(value)
    if not spec.allows(value):
        raise SettingValueError(f"{name} must be {spec.allowed()}, got {value!r}")
    return value


def check_fields(options: Any) -> None:
    """Check each field of a frozen dataclass declared with :func:`setting` (see check_field).

    For the option dataclasses outside config.toml (the training pipeline's); a field typed
    ``X | None`` may also be None.
    """
    for item in fields(options):
        if SPEC_KEY not in item.metadata:
            continue
        value = getattr(options, item.name)
        expected = _field_types(type(options))[item.name]
        if isinstance(expected, types.UnionType):
            if value is None:
                continue
            (expected,) = (kind for kind in typing.get_args(expected) if kind is not type(None))
        checked = check_field(item.name, value, expected, item.metadata[SPEC_KEY])
        object.__setattr__(options, item.name, checked)  # frozen


def check_known(what: str, name: str, allowed: Iterable[str]) -> None:
    """SettingValueError naming the allowed names if ``name`` is not one of them."""
    if name not in allowed:
        raise SettingValueError(f"unknown {what}; allowed: {', '.join(allowed)}")
