"""Detector and remediation kinds: what every kind's config shares, and the registry of kinds by `kind`.

A kind is one module: its config model (a `DetectorBase` or `RemediationBase` with `kind: Literal["x"] = "x"`)
and its implementation, a subclass of `ops.detectors.Check[Model]` or `ops.remediation.actions.Action[Model]`.
Defining that subclass registers the pair; nothing else lists kinds. Every implementation is built the same
way, `Implementation(config, context)`.

The config validates an item of `detectors:` or `remediations:` through the registry when it is validated,
not when `OpsConfig` is defined, so a kind registered later (a plugin, a test) is accepted like a built-in.
That is a dispatch on `kind` rather than a pydantic `Union[...]` with a discriminator: a union is fixed
when the model is built, and it puts the kind into every error's location (`detectors[0].sql.query`).

This package is below the kinds (they import it, it imports none of them): the built-in kinds are found by
module name, the way entry points name plugins, and imported the first time the registry is used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar, get_args, get_origin

from pydantic import Field, ValidationError, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ops.config.fields import Duration, Name, Strict
from ops.model import Severity

M = TypeVar("M", bound=Strict)


class DetectorBase(Strict):
    """What every detector kind's config has; a kind adds `kind: Literal["x"] = "x"` and its own fields."""

    kind: str
    name: Name
    severity: Severity = Severity.warning
    every: Duration | None = None  # None: SWEEP_INTERVAL_SEC
    timeout: Duration = 30.0
    for_: int = Field(1, alias="for", ge=1)
    runbook: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    description: str = ""
    no_data: Literal["ok", "alert"] = "ok"
    remediation: str | None = None  # the name of an action under `remediations`
    # While one of these detectors fires, this one's alerts are inhibited.
    depends_on: list[str] = Field(default_factory=list)
    pinged: ClassVar[bool] = False  # the job reports to /ping/<name> (a heartbeat) instead of being measured

    @field_validator("every")
    @classmethod
    def _at_least_a_second(cls, value: float | None) -> float | None:
        if value is not None and value < 1:
            raise ValueError("must be at least 1s")
        return value

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0s")
        return value

    def interval(self, default_seconds: float) -> float:
        return self.every if self.every is not None else default_seconds


class RemediationBase(Strict):
    """What every remediation kind's config has; a kind adds `kind: Literal["x"] = "x"` and its own fields."""

    kind: str
    name: Name
    description: str = ""
    confirm: bool = False  # the button first asks "Run <name>?" with Yes / Cancel
    auto: bool = False  # may run by itself when the alert fires (if AUTO_REMEDIATION_ENABLED)
    retries: int | None = Field(None, ge=0, le=10)  # after the first attempt; default AUTO_REMEDIATION_MAX_RETRIES
    timeout: Duration = 60.0
    max_auto_per_hour: int = Field(3, ge=1)

    def attempts(self, default_retries: int) -> int:
        """How many times a failing run is tried: the first attempt, then `retries` more."""
        return 1 + (self.retries if self.retries is not None else max(0, default_retries))


@dataclass(frozen=True)
class Kind(Generic[M]):
    name: str
    model: type[M]
    implementation: type[Any]  # built as implementation(config, context) by the layer that runs it


class KindRegistry(Generic[M]):
    """The kinds of one config section (`detectors`, `remediations`) by their `kind`."""

    def __init__(self, section: str, base: type[M], builtins: str) -> None:
        self.section = section
        self.base = base
        self._builtins = builtins  # the module whose import registers the kinds opsbot ships
        self._kinds: dict[str, Kind[M]] = {}
        self._imported = False

    def register_implementation(self, implementation: type[Any], generic: type[Any]) -> Kind[M] | None:
        """Register `implementation` under the kind of the model it is declared for, `generic[Model]`.
        A subclass that names no model of its own (`class Faster(SqlCheck)`) registers nothing."""
        for base in implementation.__dict__.get("__orig_bases__", ()):
            origin = get_origin(base)  # Check[Model], or a generic subclass's: SeriesCheck[Model]
            if isinstance(origin, type) and issubclass(origin, generic):
                (model,) = get_args(base)
                return self.register(model, implementation) if isinstance(model, type) else None
        return None

    def register(self, model: type[M], implementation: type[Any]) -> Kind[M]:
        self._load_builtins()  # the built-in kinds first: they keep their place in the list of kinds
        if not (isinstance(model, type) and issubclass(model, self.base)):
            raise TypeError(f"{_qualname(implementation)}: {model!r} is not a {self.base.__name__}")
        field = model.model_fields.get("kind")
        name = field.default if field is not None else None
        if not isinstance(name, str) or not name:
            raise TypeError(f'{model.__name__} needs `kind: Literal["<name>"] = "<name>"`')
        known = self._kinds.get(name)
        if known is not None and _qualname(known.implementation) != _qualname(implementation):
            raise TypeError(f"{self.section} kind {name!r} is already {_qualname(known.implementation)}")
        kind = Kind(name, model, implementation)
        self._kinds[name] = kind
        return kind

    def unregister(self, name: str) -> None:
        """Forget a kind (a test's own, once the test is done)."""
        self._kinds.pop(name, None)

    def get(self, name: str) -> Kind[M] | None:
        self._load_builtins()
        return self._kinds.get(name)

    def __getitem__(self, name: str) -> Kind[M]:
        kind = self.get(name)
        if kind is None:
            raise KeyError(f"no {self.section} kind {name!r} (kinds: {', '.join(self.names())})")
        return kind

    def names(self) -> list[str]:
        self._load_builtins()
        return list(self._kinds)

    def validate(self, raw: object) -> M:
        """One item of the section, validated by the model its `kind` names (a model is taken as it is).
        An unknown or missing kind is an error at `.kind` that lists the kinds there are."""
        if isinstance(raw, self.base):
            return raw
        if not isinstance(raw, dict):
            raise _error(raw, (), "expected a mapping")
        known = ", ".join(self.names())
        if "kind" not in raw:
            raise _error(raw, ("kind",), f"required field is missing (one of {known})")
        kind = self._kinds.get(str(raw["kind"]))
        if kind is None:
            raise _error(raw, ("kind",), f"unknown kind {raw['kind']!r} (expected one of {known})")
        return kind.model.model_validate(raw)

    def _load_builtins(self) -> None:
        if not self._imported:
            self._imported = True  # set first: importing the module registers, which comes back here
            importlib.import_module(self._builtins)


def _error(raw: object, loc: tuple[str, ...], message: str) -> ValidationError:
    error = PydanticCustomError("kind", "{message}", {"message": message})
    return ValidationError.from_exception_data("kind", [InitErrorDetails(type=error, loc=loc, input=raw)])


def _qualname(cls: type[Any]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


detector_kinds: KindRegistry[DetectorBase] = KindRegistry("detectors", DetectorBase, "ops.detectors")
remediation_kinds: KindRegistry[RemediationBase] = KindRegistry(
    "remediations", RemediationBase, "ops.remediation.actions"
)
