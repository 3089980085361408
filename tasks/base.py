"""The task protocol, for plugins that import it from here: it lives in star.types.

A task is data plus a few hooks (as in lm-evaluation-harness): it loads problems, renders a
prompt (optionally with the gold answer as a hint, for rationalization), extracts the final
answer from a completion, names the checker that judges it, and says which difficulty
group(s) a problem belongs to.
"""

from __future__ import annotations

from star.types import Prompt, Task

__all__ = ["Prompt", "Task"]
