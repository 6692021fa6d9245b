"""This process's replica id: 0 until the replica registers (`ops.replicas.Coordinator.register`), then the
id of its row in `ops_replicas`. One holder is handed to every store that stamps rows with the replica
(outbox claims, remediation runs, the shared send budget), so registering once reaches all of them."""

from __future__ import annotations


class ReplicaId:
    def __init__(self, value: int = 0) -> None:
        self._value = value

    @property
    def value(self) -> int:
        return self._value

    def assign(self, value: int) -> None:
        self._value = value

    def __repr__(self) -> str:
        return f"ReplicaId({self._value})"
