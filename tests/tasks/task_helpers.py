"""Helpers for the task tests: build a task from its config exactly as `star run` does, with
small fixture files (in each benchmark's published format) where the task needs data.
(A module of its own, not conftest.py: `from conftest import` is ambiguous across test dirs.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TASK_CONFIGS = sorted(p.stem for p in (ROOT / "conf" / "task").glob("*.yaml"))

# Overrides that give each data-backed task its fixture data; a new task that needs files
# adds its fixture here.
FIXTURE_OVERRIDES: dict[str, list[str]] = {
    "gsm8k": [f"task.data_files={FIXTURES / 'gsm8k.jsonl'}"],
    "math": [f"task.data_files={FIXTURES / 'math.jsonl'}"],
    "commonsenseqa": [f"task.data_files={FIXTURES / 'commonsenseqa.jsonl'}"],
}


def build_task(name: str, *overrides: str, config_dirs: tuple[str, ...] = ()) -> Any:
    """The task `star run task=<name>` would build, with the fixture overrides."""
    from hydra.utils import instantiate

    from star.task_cli import compose

    cfg = compose([f"task={name}", *FIXTURE_OVERRIDES.get(name, []), *overrides], config_dirs)
    return instantiate(cfg.task, _convert_="all")


def as_text(prompt: Any) -> str:
    """A prompt as comparable text (chat messages as JSON)."""
    return prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)


class ChatTokenizer:
    """Stands in for a tokenizer with a chat template (star.prompting.render needs one)."""

    chat_template = "json"

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return json.dumps(messages, ensure_ascii=False) + "<assistant>"
