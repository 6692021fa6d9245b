"""Load and validate the YAML config; every error says file, item and field.

Every problem is collected and reported at once, one line each, in this order: `${VAR}` problems,
the top-level sections, targets, remediations, each detector's own fields, then the references between
items — so that "remediation 'x' is invalid (see above)" is indeed above. One mistake is one line: a bad
item stays out of the checks of the others (a reference to it says it is invalid, not unknown), a
missing variable is named once (not again as the bad value it leaves behind).

The expanded config is capped (`MAX_VALUES`, `MAX_CHARS`, `MAX_DEPTH`): YAML aliases and `${VAR}` values
can make a few hundred bytes expand to gigabytes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from ops.config.fields import Strict
from ops.config.kinds import DetectorBase, KindRegistry, RemediationBase, detector_kinds, remediation_kinds
from ops.config.models import OpsConfig
from ops.config.targets import database_url

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
MAX_VALUES = 100_000  # mappings, lists and scalars of the expanded config
MAX_CHARS = 1_000_000  # characters of its strings (and of the file itself)
MAX_DEPTH = 100
# opsbot's own secrets: `${…}` may bring them only where they are needed and never shown.
SECRET_SETTINGS = frozenset(
    {"BOT_TOKEN", "DATABASE_URL", "PING_TOKEN", "WEBHOOK_SECRET", "ALERTMANAGER_WEBHOOK_TOKEN", "API_TOKEN"}
)
_SECRET_PLACES = "targets, headers and a remediation's env"

Path_ = tuple[Any, ...]  # a place in the raw config: ("detectors", 0, "labels", "team")


class ConfigError(Exception):
    """Every problem found in one config file, one line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _TooBig(Exception):
    """The config expands past a cap; the message is the whole story."""


def load_config(path: str | Path, env: Mapping[str, str] | None = None, warnings: list[str] | None = None) -> OpsConfig:
    """The config at `path`; `${VAR}` from `env` (default: the environment). Warnings, if a list is given,
    are appended to it (an empty or detector-less file): they do not stop the load."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    return parse_config(text, name=str(path), base_dir=path.parent, env=env, warnings=warnings)


def referenced_variables(text: str) -> set[str]:
    """The names of the `${VAR}`s a config text uses."""
    return {match.group(1) for match in _VAR.finditer(text)}


def parse_config(
    text: str,
    *,
    name: str = "opsbot.yaml",
    base_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    warnings: list[str] | None = None,
) -> OpsConfig:
    env = os.environ if env is None else env
    if len(text) > MAX_CHARS:
        raise ConfigError([f"{name}: larger than {MAX_CHARS:,} characters; refusing it"])
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{name}{where}: not valid YAML: {problem}"]) from None
    except RecursionError:
        raise ConfigError([f"{name}: nested too deeply (more than {MAX_DEPTH} levels)"]) from None
    empty = raw is None
    if empty:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{name}: expected a mapping with targets and detectors at the top"])

    expander = _Expander(name, env, raw)
    try:
        expander.measure(raw)
    except _TooBig as exc:
        raise ConfigError([f"{name}: {exc}"]) from None
    raw = expander.expand(raw, ())
    expander.finish()
    config = _Validator(name, expander.errors, expander.unresolved, raw, base_dir).run()
    if warnings is not None:
        if empty:
            warnings.append(f"{name}: the file is empty — no detectors, opsbot checks nothing")
        elif not config.detectors:
            warnings.append(f"{name}: no detectors — opsbot checks nothing")
    return config


class _Expander:
    """Replaces `${VAR}` in every string, once `measure` has found the result within the caps."""

    def __init__(self, name: str, env: Mapping[str, str], root: dict[str, Any]) -> None:
        self.name, self.env, self.root = name, env, root
        self.errors: list[str] = []
        self.unresolved: set[Path_] = set()  # places left with a `${VAR}` in them: already reported
        self._missing: dict[str, tuple[int, Path_, int]] = {}  # var → (its error line, first place, uses)
        # (id of a parsed value, variables expanded?) → (values, characters) it expands to
        self._sizes: dict[tuple[int, bool], tuple[int, int]] = {}
        self._typed: dict[str, Any] = {}  # a whole-value variable's text → its YAML value
        self._secrets: dict[str, bool] = {}

    def measure(self, value: Any, depth: int = 0, *, variables: bool = True) -> tuple[int, int]:
        """How many values and characters `value` expands to, without expanding it.

        YAML aliases are one object met many times: each is measured once (by id), so a bomb is
        refused in microseconds, before anything is built. A variable's own YAML value is measured
        with `variables=False`: it is copied, never expanded again.
        """
        if depth > MAX_DEPTH:
            raise _TooBig(f"nested too deeply (more than {MAX_DEPTH} levels)")
        memo = (id(value), variables)
        known = self._sizes.get(memo)
        if known is not None:
            return known
        values, chars = 1, 0
        if isinstance(value, dict | list):
            for key, item in value.items() if isinstance(value, dict) else enumerate(value):
                item_values, item_chars = self.measure(item, depth + 1, variables=variables)
                values += item_values
                chars += item_chars + (len(key) if isinstance(key, str) else 0)
                if values > MAX_VALUES or chars > MAX_CHARS:
                    break
        elif isinstance(value, str) and variables and "${" in value:
            text = _VAR.sub(self._peek, value)
            whole = _VAR.fullmatch(value.strip())
            if whole and text.strip() and (whole.group(1) in self.env or whole.group(2) is not None):
                values, chars = self.measure(self._typed_value(text), depth, variables=False)
            else:
                chars = len(text)
        elif isinstance(value, str):
            chars = len(value)
        if values > MAX_VALUES:
            raise _TooBig(
                f"expands to more than {MAX_VALUES:,} values (YAML aliases or ${{VAR}} repeated?); refusing it"
            )
        if chars > MAX_CHARS:
            raise _TooBig(
                f"expands to more than {MAX_CHARS:,} characters (YAML aliases or ${{VAR}} repeated?); refusing it"
            )
        self._sizes[memo] = (values, chars)
        return values, chars

    def _peek(self, match: re.Match[str]) -> str:
        var, default = match.group(1), match.group(2)
        return self.env.get(var, default if default is not None else match.group(0))

    def _typed_value(self, text: str) -> Any:
        if text not in self._typed:
            try:
                self._typed[text] = yaml.safe_load(text)
            except yaml.YAMLError:
                self._typed[text] = text
            except RecursionError:
                raise _TooBig(f"nested too deeply (more than {MAX_DEPTH} levels)") from None
        return self._typed[text]

    def expand(self, value: Any, path: Path_) -> Any:
        """A copy of `value` (a tree: aliases copied out) with every `${VAR}` replaced."""
        if isinstance(value, dict):
            return {k: self.expand(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.expand(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            return self._substitute(value, path)
        return value

    def _substitute(self, value: str, path: Path_) -> Any:
        kept = False

        def one(match: re.Match[str]) -> str:
            nonlocal kept
            var, default = match.group(1), match.group(2)
            if self._secret(var) and not _secret_allowed(path):
                self.errors.append(
                    f"{self.name}: {_locate(path, self.root)}: ${{{var}}} is a secret setting; "
                    f"it may appear only in {_SECRET_PLACES}"
                )
            elif var in self.env:
                return self.env[var]
            elif default is not None:  # ${VAR:-default}
                return default
            else:
                self._report_missing(var, path)
            kept = True
            return match.group(0)

        expanded = _VAR.sub(one, value)
        if kept:
            self.unresolved.add(path)
        elif _VAR.fullmatch(value.strip()) and expanded.strip():  # a whole value: typed as YAML (5, [a, b])
            return _copy(self._typed_value(expanded))
        return expanded

    def _secret(self, var: str) -> bool:
        if var not in self._secrets:
            self._secrets[var] = self._is_secret(var)
        return self._secrets[var]

    def _is_secret(self, var: str) -> bool:
        upper = var.upper()
        if upper in SECRET_SETTINGS:
            return True
        if upper == "ALERTMANAGER_URL":  # a secret only when it carries a password
            value = self.env.get(var, self.env.get(upper, ""))
            try:
                return urlsplit(value).password is not None
            except ValueError:
                return "@" in value
        return False

    def _report_missing(self, var: str, path: Path_) -> None:
        if var in self._missing:
            line, first, uses = self._missing[var]
            self._missing[var] = (line, first, uses + 1)
        else:
            self._missing[var] = (len(self.errors), path, 1)
            self.errors.append("")  # its line, written by `finish` once the uses are counted

    def finish(self) -> None:
        for var, (line, first, uses) in self._missing.items():
            more = f" (used in {uses - 1} more place{'s' if uses > 2 else ''})" if uses > 1 else ""
            self.errors[line] = f"{self.name}: {_locate(first, self.root)}: environment variable {var} is not set{more}"


def _copy(value: Any) -> Any:
    """A variable's YAML value as a tree of its own (its aliases copied out), never expanded again."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _secret_allowed(path: Path_) -> bool:
    if len(path) >= 2 and path[0] == "targets":
        return True
    if len(path) >= 4 and path[0] in ("detectors", "remediations") and path[2] == "headers":
        return True
    return len(path) >= 3 and path[0] == "remediations" and path[2] == "env"


M = TypeVar("M", bound=Strict)


class _Validator:
    """Validates the expanded config: each item on its own, then the references between them."""

    def __init__(
        self, name: str, errors: list[str], unresolved: set[Path_], raw: dict[str, Any], base_dir: Path | None
    ) -> None:
        self.name, self.errors, self.raw, self.base_dir = name, errors, raw, base_dir
        self.unresolved = {tuple(map(str, p)) for p in unresolved}
        self.bad_sections: set[str] = set()  # a whole section failed: every reference into it is invalid
        self.invalid: dict[str, set[str]] = {"targets": set(), "remediations": set(), "detectors": set()}
        self.unnamed: dict[str, int] = {}  # a section's invalid items whose name is unreadable too
        self.kept_index: dict[str, list[int]] = {}  # a list section's surviving items: their first index

    def run(self) -> OpsConfig:
        top = self._top({k: v for k, v in self.raw.items() if k not in ("detectors", "remediations")})
        targets = self._targets(top.targets)
        remediations = self._remediations(targets)
        detectors = self._detectors()
        detectors = self._detector_references(detectors, targets, {r.name for r in remediations})
        self._slo_references(top, {d.name for d in detectors}, targets)
        self._maintenance_references(top, {d.name for d in detectors})
        self._status_page_references(top, {d.name for d in detectors})
        if self.errors:
            raise ConfigError(self.errors)
        return top.model_copy(update={"targets": targets, "detectors": detectors, "remediations": remediations})

    # -- each item on its own

    def _top(self, data: dict[str, Any]) -> OpsConfig:
        """The top-level sections; a bad entry is reported and left out, so the rest is still checked."""
        first = True
        for _ in range(len(data) + 2):
            try:
                return OpsConfig.model_validate(data)
            except ValidationError as exc:
                if first:
                    self.errors.extend(self._format((), exc))
                    first = False
                data = self._without_bad_entries(data, exc)
        return OpsConfig()

    def _without_bad_entries(self, data: dict[str, Any], exc: ValidationError) -> dict[str, Any]:
        """`data` less the entries the errors are in: a mapping's key, a list's item, else the section."""
        keys: dict[str, set[Any]] = {}
        items: dict[str, set[int]] = {}
        sections: set[str] = set()
        for err in exc.errors():
            loc = err["loc"]
            if not loc or loc[0] not in data:
                continue
            key, section = str(loc[0]), data[loc[0]]
            if len(loc) >= 2 and isinstance(section, dict) and loc[1] in section:
                keys.setdefault(key, set()).add(loc[1])
            elif len(loc) >= 2 and isinstance(section, list) and isinstance(loc[1], int):
                items.setdefault(key, set()).add(loc[1])
            else:
                sections.add(key)
        data = dict(data)
        for key, bad in keys.items():
            data[key] = {k: v for k, v in data[key].items() if k not in bad}
            if key in self.invalid:
                self.invalid[key].update(map(str, bad))
        for key, indexes in items.items():
            kept = self.kept_index.get(key, list(range(len(data[key]))))
            self.kept_index[key] = [k for i, k in enumerate(kept) if i not in indexes]
            data[key] = [item for i, item in enumerate(data[key]) if i not in indexes]
        for key in sections:
            data.pop(key)
            self.bad_sections.add(key)
        return data

    def _targets(self, raw_targets: dict[str, str]) -> dict[str, str]:
        targets = {}
        for name, url in raw_targets.items():
            if self._skipped(("targets", name)):
                targets[name] = url  # its missing variable is reported already
                continue
            try:
                targets[name] = database_url(url)
            except ValueError as exc:
                self.errors.append(f"{self.name}: {_locate(('targets', name), self.raw)}: {exc}")
                self.invalid["targets"].add(name)
        return targets

    def _items(self, section: str) -> list[Any]:
        items = self.raw.get(section)
        if items is None:
            return []
        if not isinstance(items, list):
            self.errors.append(f"{self.name}: {section}: expected a list")
            self.bad_sections.add(section)
            return []
        return items

    def _by_kind(self, section: str, index: int, item: object, kinds: KindRegistry[M]) -> M | None:
        """Validate one list item with the model its `kind` names; errors are appended, located."""
        try:
            return kinds.validate(item)
        except ValidationError as exc:
            self.errors.extend(self._format((section, index), exc))
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and not self._skipped((section, index, "name")):
            self.invalid[section].add(name)
        else:
            self.unnamed[section] = self.unnamed.get(section, 0) + 1
        return None

    def _remediations(self, targets: dict[str, str]) -> list[RemediationBase]:
        out: list[RemediationBase] = []
        seen: set[str] = set()
        for index, item in enumerate(self._items("remediations")):
            action = self._by_kind("remediations", index, item, remediation_kinds)
            if action is None:
                continue
            where = _locate(("remediations", index), self.raw)
            if action.name in seen:
                self.errors.append(f"{self.name}: {where}.name: {action.name!r} is already used")
            seen.add(action.name)
            target = getattr(action, "target", None)
            if target is not None and target not in targets:
                reason = self._not_found("targets", "target", target, targets, listed=False)
                self.errors.append(f"{self.name}: {where}.target: {reason}")
            out.append(action)
        return out

    def _detectors(self) -> list[tuple[int, DetectorBase]]:
        found = []
        for index, item in enumerate(self._items("detectors")):
            detector = self._by_kind("detectors", index, item, detector_kinds)
            if detector is not None:
                found.append((index, detector))
        return found

    # -- references between items

    def _not_found(self, section: str, what: str, name: str, known: Any, listed: bool = True) -> str:
        """Why a reference does not resolve: the item failed (see above) or there is none by that name."""
        if section in self.bad_sections or name in self.invalid.get(section, ()):
            return f"{what} {name!r} is invalid (see above)"
        # An invalid item whose very name is unreadable may be the one meant: say there is one.
        unnamed = self.unnamed.get(section, 0)
        invalid = f"{unnamed} invalid above" if unnamed else ""
        if not listed:
            return f"unknown {what} {name!r}" + (f" ({section}: {invalid})" if invalid else "")
        names = "; ".join(filter(None, (", ".join(sorted(known)), invalid))) or "none defined"
        return f"unknown {what} {name!r} ({section}: {names})"

    def _detector_references(
        self, found: list[tuple[int, DetectorBase]], targets: dict[str, str], actions: set[str]
    ) -> list[DetectorBase]:
        names = {d.name for _, d in found}
        seen: dict[str, int] = {}
        detectors: list[DetectorBase] = []
        for index, detector in found:
            where = f"{self.name}: {_locate(('detectors', index), self.raw)}"
            if detector.name in seen:
                self.errors.append(
                    f"{where}.name: {detector.name!r} is already used by detectors[{seen[detector.name]}]"
                )
            seen.setdefault(detector.name, index)
            target = getattr(detector, "target", None)
            if target is not None and target not in targets:
                reason = self._not_found("targets", "target", target, targets)
                self.errors.append(f"{where}.target: {reason}")
            for parent in detector.depends_on:
                if parent == detector.name:
                    self.errors.append(f"{where}.depends_on: unknown detector {parent!r}")
                elif parent not in names:
                    reason = self._not_found("detectors", "detector", parent, names, listed=False)
                    self.errors.append(f"{where}.depends_on: {reason}")
            source = getattr(detector, "detector", None)  # a series kind reading another's stored values
            if isinstance(source, str):
                keeping = {d.name for _, d in found if getattr(d, "keep_history", False)}
                if source not in keeping:
                    reason = (
                        self._not_found("detectors", "detector", source, names, listed=False)
                        if source not in names
                        else f"detector {source!r} does not keep its history (set keep_history: true on it)"
                    )
                    self.errors.append(f"{where}.detector: {reason}")
            if detector.remediation and detector.remediation not in actions:
                reason = self._not_found("remediations", "remediation", detector.remediation, actions)
                self.errors.append(f"{where}.remediation: {reason}")
            if detector.runbook:
                runbook = Path(detector.runbook)
                if not runbook.is_absolute() and self.base_dir is not None:
                    runbook = self.base_dir / runbook
                if not runbook.is_file():
                    self.errors.append(f"{where}.runbook: file not found: {detector.runbook}")
                else:
                    detector = detector.model_copy(update={"runbook": str(runbook.resolve())})
            detectors.append(detector)
        return detectors

    def _slo_references(self, top: OpsConfig, names: set[str], targets: dict[str, str]) -> None:
        seen: set[str] = set()
        for index, slo in zip(self.kept_index.get("slos", range(len(top.slos))), top.slos, strict=True):
            where = f"{self.name}: {_locate(('slos', index), self.raw)}"
            if slo.name in seen:
                self.errors.append(f"{where}.name: {slo.name!r} is already used")
            seen.add(slo.name)
            if slo.sli.detector is not None and slo.sli.detector not in names:
                reason = self._not_found("detectors", "detector", slo.sli.detector, names, listed=False)
                self.errors.append(f"{where}.sli.detector: {reason}")
            if slo.sli.target is not None and slo.sli.target not in targets:
                reason = self._not_found("targets", "target", slo.sli.target, targets, listed=False)
                self.errors.append(f"{where}.sli.target: {reason}")

    def _maintenance_references(self, top: OpsConfig, names: set[str]) -> None:
        windows = top.maintenance
        for index, window in zip(self.kept_index.get("maintenance", range(len(windows))), windows, strict=True):
            where = f"{self.name}: {_locate(('maintenance', index), self.raw)}.detectors"
            for detector in window.detectors:
                if detector not in names:
                    reason = self._not_found("detectors", "detector", detector, names, listed=False)
                    self.errors.append(f"{where}: {reason}")

    def _status_page_references(self, top: OpsConfig, names: set[str]) -> None:
        """Every component names detectors that exist; a status page lists at least one component."""
        page, raw = top.status_page, self.raw.get("status_page")
        if page is None or not isinstance(raw, dict):
            return
        if not raw.get("components"):
            self.errors.append(f"{self.name}: status_page.components: list at least one component")
            return
        for index, component in enumerate(page.components):
            where = f"{self.name}: {_locate(('status_page', 'components', index), self.raw)}.detectors"
            for detector in component.detectors:
                if detector not in names:
                    reason = self._not_found("detectors", "detector", detector, names, listed=False)
                    self.errors.append(f"{where}: {reason}")

    # -- located messages

    def _skipped(self, path: Path_) -> bool:
        """Inside a value that kept a `${VAR}` (reported once already): its other errors are noise."""
        path = tuple(map(str, path))
        return any(path[:length] in self.unresolved for length in range(1, len(path) + 1))

    def _format(self, prefix: Path_, exc: ValidationError) -> list[str]:
        lines = []
        for err in exc.errors():
            path = (*prefix, *("for" if part == "for_" else part for part in err["loc"]))
            if self._skipped(path):
                continue
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            elif err["type"] == "missing":
                msg = "required field is missing"
            lines.append(f"{self.name}: {_locate(path, self.raw) or '(top level)'}: {msg}")
        return lines


def _locate(path: Path_, root: Any) -> str:
    """`("detectors", 0, "labels", "team")` → `detectors[0] (cash).labels.team`: list items by index,
    with their name when they have one."""
    out = ""
    node = root
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            name = node.get("name") if isinstance(node, dict) else None
            if isinstance(name, str) and name:
                out += f" ({name})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out
