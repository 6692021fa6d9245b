"""Shipped examples: three configs (with the runbooks they name, in runbooks/), each with a sample-data
generator.

`python -m examples NAME --state healthy|broken --url DATABASE_URL` writes the sample data and
prints the environment the config needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Example:
    name: str
    module: ModuleType

    @property
    def config(self) -> Path:
        return HERE / f"{self.name}.yaml"

    @property
    def dialect(self) -> str:
        return str(self.module.DIALECT)


def get(name: str) -> Example:
    from examples import devdiag, marketplace, trading_pipeline

    modules = {"marketplace": marketplace, "trading-pipeline": trading_pipeline, "devdiag": devdiag}
    if name not in modules:
        raise KeyError(f"unknown example {name!r} (examples: {', '.join(modules)})")
    return Example(name, modules[name])


NAMES = ("marketplace", "trading-pipeline", "devdiag")
