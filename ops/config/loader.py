"""Load and validate the YAML config; every error says file, detector and field."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ops.config.models import DETECTOR_KINDS, REMEDIATION_KINDS, DetectorBase, OpsConfig, RemediationBase

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """Every problem found in one config file, one line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> OpsConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    return parse_config(text, name=str(path), base_dir=path.parent, env=env)


def parse_config(
    text: str,
    *,
    name: str = "opsbot.yaml",
    base_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> OpsConfig:
    env = os.environ if env is None else env
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{name}{where}: not valid YAML: {problem}"]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{name}: expected a mapping with targets and detectors at the top"])

    errors: list[str] = []
    raw = _expand(raw, env, [], errors, name, raw)
    detectors_raw = raw.pop("detectors", None) or []
    remediations_raw = raw.pop("remediations", None) or []
    top: OpsConfig | None = None
    try:
        top = OpsConfig.model_validate(raw)
    except ValidationError as exc:
        errors.extend(_format(name, [], exc, raw))
    if not isinstance(detectors_raw, list):
        errors.append(f"{name}: detectors: expected a list")
        detectors_raw = []

    targets = top.targets if top else {}
    remediations = _remediations(name, remediations_raw, targets, errors)
    known_actions = {r.name for r in remediations}
    detectors: list[DetectorBase] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(detectors_raw):
        label = _detector_label(index, item)
        detector = _by_kind(name, label, item, DETECTOR_KINDS, errors)
        if detector is None:
            continue
        if detector.name in seen:
            errors.append(
                f"{name}: {label}.name: {detector.name!r} is already used by detectors[{seen[detector.name]}]"
            )
        seen.setdefault(detector.name, index)
        target = getattr(detector, "target", None)
        if target is not None and target not in targets:
            known = ", ".join(sorted(targets)) or "none defined"
            errors.append(f"{name}: {label}.target: unknown target {target!r} (targets: {known})")
        for parent in detector.depends_on:
            if parent == detector.name or not any(
                isinstance(d, dict) and d.get("name") == parent for d in detectors_raw
            ):
                errors.append(f"{name}: {label}.depends_on: unknown detector {parent!r}")
        if detector.remediation and detector.remediation not in known_actions:
            listed = ", ".join(sorted(known_actions)) or "none defined"
            errors.append(
                f"{name}: {label}.remediation: unknown remediation {detector.remediation!r} (remediations: {listed})"
            )
        if detector.runbook:
            runbook = Path(detector.runbook)
            if not runbook.is_absolute() and base_dir is not None:
                runbook = base_dir / runbook
            if not runbook.is_file():
                errors.append(f"{name}: {label}.runbook: file not found: {detector.runbook}")
            else:
                detector = detector.model_copy(update={"runbook": str(runbook.resolve())})
        detectors.append(detector)

    if top is not None:
        names = {d.name for d in detectors}
        seen_slos: set[str] = set()
        for index, slo in enumerate(top.slos):
            label = f"slos[{index}] ({slo.name})"
            if slo.name in seen_slos:
                errors.append(f"{name}: {label}.name: {slo.name!r} is already used")
            seen_slos.add(slo.name)
            if slo.sli.detector is not None and slo.sli.detector not in names:
                errors.append(f"{name}: {label}.sli.detector: unknown detector {slo.sli.detector!r}")
            if slo.sli.target is not None and slo.sli.target not in targets:
                errors.append(f"{name}: {label}.sli.target: unknown target {slo.sli.target!r}")
        if top.slo_report is not None:
            from ops.slo.report import parse_report_time

            try:
                parse_report_time(top.slo_report, top.slo_report_tz)
            except ValueError as exc:
                errors.append(f"{name}: slo_report_tz: {exc}")
    if errors or top is None:
        raise ConfigError(errors)
    return top.model_copy(update={"detectors": detectors, "remediations": remediations})


M = TypeVar("M", bound=BaseModel)


def _by_kind(name: str, label: str, item: object, kinds: dict[str, type[M]], errors: list[str]) -> M | None:
    """Validate one list item with the model its `kind` names; errors are appended, located."""
    if not isinstance(item, dict):
        errors.append(f"{name}: {label}: expected a mapping")
        return None
    model = kinds.get(str(item.get("kind")))
    if model is None:
        known = ", ".join(kinds)
        errors.append(f"{name}: {label}.kind: unknown kind {item.get('kind')!r} (expected one of {known})")
        return None
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        errors.extend(_format(name, [label], exc))
        return None


def _remediations(name: str, items: object, targets: dict[str, str], errors: list[str]) -> list[RemediationBase]:
    if not isinstance(items, list):
        errors.append(f"{name}: remediations: expected a list")
        return []
    out: list[RemediationBase] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        label = _label("remediations", index, item)
        action = _by_kind(name, label, item, REMEDIATION_KINDS, errors)
        if action is None:
            continue
        if action.name in seen:
            errors.append(f"{name}: {label}.name: {action.name!r} is already used")
        seen.add(action.name)
        target = getattr(action, "target", None)
        if target is not None and target not in targets:
            errors.append(f"{name}: {label}.target: unknown target {target!r}")
        out.append(action)
    return out


def _label(section: str, index: int, item: object) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return f"{section}[{index}] ({name})" if name else f"{section}[{index}]"


def _detector_label(index: int, item: object) -> str:
    return _label("detectors", index, item)


def _expand(value: Any, env: Mapping[str, str], path: list[Any], errors: list[str], name: str, root: Any) -> Any:
    """Replace `${VAR}` in every string; a missing variable is an error at its place."""
    if isinstance(value, dict):
        return {k: _expand(v, env, [*path, k], errors, name, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, [*path, i], errors, name, root) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def substitute(match: re.Match[str]) -> str:
            var, default = match.group(1), match.group(2)
            if var in env:
                return env[var]
            if default is not None:  # ${VAR:-default}
                return default
            errors.append(f"{name}: {_where(path, root)}: environment variable {var} is not set")
            return match.group(0)

        expanded = _VAR.sub(substitute, value)
        whole = _VAR.fullmatch(value.strip())
        if whole and (whole.group(1) in env or whole.group(2) is not None):
            return yaml.safe_load(expanded) if expanded.strip() else expanded
        return expanded
    return value


def _where(path: list[Any], root: Any) -> str:
    if len(path) >= 2 and path[0] in ("detectors", "remediations") and isinstance(path[1], int):
        items = root.get(path[0]) or []
        item = items[path[1]] if path[1] < len(items) else None
        return ".".join([_label(path[0], path[1], item), *map(str, path[2:])])
    return ".".join(map(str, path))


def _format(name: str, prefix: list[str], exc: ValidationError, raw: Any = None) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = [("for" if part == "for_" else str(part)) for part in err["loc"]]
        if raw is not None and len(loc) >= 2 and loc[0] == "slos" and loc[1].isdigit():
            items = raw.get("slos") or []
            index = int(loc[1])
            loc = [_label("slos", index, items[index] if index < len(items) else None), *loc[2:]]
        where = ".".join([*prefix, *loc]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        lines.append(f"{name}: {where}: {msg}")
    return lines


def model_fields_doc(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)
