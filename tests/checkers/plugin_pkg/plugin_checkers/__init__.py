"""Checkers defined outside star/, as a user's own package would define them.

`RomanChecker` (integers written as Roman numerals) and `NamelessRomanChecker` (the same,
without a `name`) answer nothing on the fast path, so every pair goes to a CheckPool
worker, which must import this package to unpickle them. `CountdownChecker` reads the
problem (`uses_problem = True`): an arithmetic expression must use exactly the problem's
numbers and reach the gold target.
"""

from plugin_checkers.countdown import CountdownChecker, evaluate
from plugin_checkers.roman import NamelessRomanChecker, RomanChecker, roman_value

__all__ = ["CountdownChecker", "NamelessRomanChecker", "RomanChecker", "evaluate", "roman_value"]
