"""A CheckPool worker: a fresh interpreter that runs `checker.check` on one pair at a time.

Started by checkers/pool.py as `python -m star.checkers.worker READ_FD WRITE_FD SOFT_S MEM_MB`
(a new interpreter, like multiprocessing's "spawn", but without re-importing the parent's
__main__, which for the `star` console script would pull torch into every worker).
Requests arrive pickled from the parent (trusted): (task id, pickled checker, pickled
(gold, pred, problem)), the inner pickles loaded here so that a checker class this
interpreter cannot import gets a reply ("unpickle-error", why) instead of killing the
worker. Replies go back as JSON, so the parent never unpickles anything a hostile input
could have shaped.

Defences, innermost first: a soft per-check timer (setitimer) that turns most slow checks
into UNVERIFIABLE without losing the process; an address-space cap (RLIMIT_AS) so that a
runaway allocation fails here, not on the machine; death with the parent (PR_SET_PDEATHSIG,
and EOF on the request pipe). The parent's hard wall-clock timeout kills whatever is left.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import sys
import time
import warnings
from multiprocessing.connection import Connection

from star.checkers.base import Verdict, uses_problem

log = logging.getLogger(__name__)
_HEADROOM_MB = 256


class SoftTimeout(BaseException):
    """Raised by the timer; a BaseException so that sympy's `except Exception` cannot eat it."""


def _on_alarm(signum: int, frame: object) -> None:
    raise SoftTimeout


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no orphans, even on kill -9)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux: EOF on the request pipe still ends the loop
        pass
    if os.getppid() != parent:
        os._exit(0)


def _address_space_mb() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _limit_memory(max_mb: int) -> None:
    """Cap the address space at max_mb, or at what the imports took plus headroom if more."""
    if max_mb <= 0:
        return
    try:
        import resource

        limit = max(max_mb, _address_space_mb() + _HEADROOM_MB) * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError) as e:
        log.warning("could not cap worker memory: %s", e)


def run_one(checker: object, gold: str, pred: str | None, soft_timeout: float, problem: object = None) -> Verdict:
    """checker.check(gold, pred) under the soft timer, or check(gold, pred, problem) for a
    checker whose class has `uses_problem = True`; never raises."""
    timer = soft_timeout > 0 and hasattr(signal, "setitimer")  # POSIX only
    try:
        if timer:
            signal.setitimer(signal.ITIMER_REAL, soft_timeout)
        try:
            if uses_problem(checker):
                verdict = checker.check(gold, pred, problem)  # type: ignore[attr-defined]
            else:
                verdict = checker.check(gold, pred)  # type: ignore[attr-defined]
        finally:
            if timer:
                signal.setitimer(signal.ITIMER_REAL, 0)
        return verdict if isinstance(verdict, Verdict) else Verdict.UNVERIFIABLE
    except SoftTimeout:
        return Verdict.UNVERIFIABLE
    except MemoryError:
        raise  # the process may be damaged: let main() reply and exit
    except BaseException:
        return Verdict.UNVERIFIABLE


def serve(requests: Connection, replies: Connection, soft_timeout: float) -> None:
    """Answer requests until the parent closes the pipe."""
    loaded: tuple[bytes, object] | None = None  # the last checker, unpickled once
    while True:
        try:
            task_id, checker_bytes, pair_bytes = pickle.loads(requests.recv_bytes())
        except (EOFError, OSError):
            return
        what = "checker"
        try:
            if loaded is None or loaded[0] != checker_bytes:
                loaded = (checker_bytes, pickle.loads(checker_bytes))
            checker = loaded[1]
            what = "problem"
            gold, pred, problem = pickle.loads(pair_bytes)
        except Exception as e:  # ModuleNotFoundError, AttributeError: a class we cannot import
            loaded = None if what == "checker" else loaded
            reply = ["unpickle-error", f"{type(e).__name__}: {e}"[:500], task_id, what]
            try:
                replies.send_bytes(json.dumps(reply).encode())
            except (OSError, ValueError):
                return
            continue
        start = time.perf_counter()
        try:
            verdict, fatal = run_one(checker, gold, pred, soft_timeout, problem), False
        except MemoryError:
            verdict, fatal = Verdict.UNVERIFIABLE, True
        # `fatal` tells the parent this process is exiting: retire it, send it nothing more.
        reply = [task_id, verdict.value, time.perf_counter() - start, fatal]
        try:
            replies.send_bytes(json.dumps(reply).encode())
        except (OSError, ValueError):
            return
        if fatal:
            os._exit(3)


def main(argv: list[str]) -> int:
    read_fd, write_fd, soft_timeout, max_mb, parent = (
        int(argv[0]), int(argv[1]), float(argv[2]), int(argv[3]), int(argv[4]),
    )  # fmt: skip
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if hasattr(signal, "SIGALRM"):
        signal.signal(signal.SIGALRM, _on_alarm)
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.ERROR)
    # Import everything the checks need before saying "ready" (and before the memory cap).
    from star.checkers import symbolic  # noqa: F401

    _limit_memory(max_mb)
    requests = Connection(read_fd, writable=False)
    replies = Connection(write_fd, readable=False)
    replies.send_bytes(json.dumps(["ready", os.getpid()]).encode())
    serve(requests, replies, soft_timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
