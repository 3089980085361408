"""Render a task's prompt to the exact text the model sees (and that training examples use).

Tasks return either plain text (few-shot prompts for base models) or chat messages; chat
messages go through the tokenizer's own chat template, so instruct models see the format
they were trained on.
"""

from __future__ import annotations

from typing import Any


def render(prompt: str | list[dict[str, str]], tokenizer: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("task.prompt_style=chat needs a tokenizer with a chat template; "
                         "this model has none (use task.prompt_style=text)")
    return tokenizer.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)
