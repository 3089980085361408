"""A test task: the demo's arithmetic with every training gold answer replaced by garbage
(the eval split keeps its gold). Under loop.labels=majority the training side must not
notice: tests/e2e/test_label_free.py compares its train.jsonl with the real task's."""

from __future__ import annotations

from dataclasses import dataclass, replace

from star.tasks.arithmetic import Arithmetic


@dataclass
class GarbledArithmetic(Arithmetic):
    def load(self, split: str):
        problems = super().load(split)
        if split != "train":
            return problems
        return [replace(p, answer=f"{i * 7919 % 1000 + 1}") for i, p in enumerate(problems)]
