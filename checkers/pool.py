"""CheckPool: batch checking with a fast path in-process and sympy in worker processes.

One pool per run, reused across iterations. `check` answers every pair it can with the
checker's `fast_check` (strings and exact fractions, microseconds, safe in the main
process), deduplicates the rest (k samples of one problem often give the same answer) and
sends them to worker processes, one pair per worker at a time, under a hard wall-clock
deadline: a worker that misses it is SIGKILLed and replaced, and its pair is UNVERIFIABLE.
Workers start lazily, only when some pair misses the fast path, and stay alive across
calls; `close()` (or interpreter exit) kills them all.

Workers are fresh interpreters (`python -m star.checkers.worker`, spawn semantics, no
fork of this possibly multi-threaded process) capped in memory; see checkers/worker.py.
The checker travels to them pickled, so its class must be importable there (a package
installed or on the PYTHONPATH they inherit, never `__main__`): a class that is not
raises CheckerImportError here, in the parent, instead of silently judging nothing.

A checker whose class says `uses_problem = True` is called with the problem as a third
argument (`fast_check(gold, pred, problem)`, `check(gold, pred, problem)`): `problems`,
aligned with `pairs`, are what `check` hands it (None when not given); pairs of different
problems are then never deduplicated into one check. Other checkers are called with
(gold, pred) alone, whatever `problems` holds.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import time
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from star.checkers.base import Checker, CheckerImportError, Verdict, checker_name, uses_problem

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # seconds for a worker to import sympy and say "ready"
MAX_START_FAILURES = 3  # consecutive workers dying before "ready": the environment is broken
SOFT_FRACTION = 0.8  # the worker's own timer fires first, so most timeouts keep the process


@dataclass
class _Worker:
    proc: subprocess.Popen
    requests: Connection  # parent -> worker
    replies: Connection  # worker -> parent
    started: float
    ready: bool = False
    task: int | None = None  # index into the current batch's unique pairs
    deadline: float = 0.0
    sent: float = 0.0
    dead: bool = field(default=False)

    def kill(self) -> None:
        if self.dead:
            return
        self.dead = True
        for conn in (self.requests, self.replies):
            try:
                conn.close()
            except OSError:
                pass
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignorable
            log.error("checker worker %d did not die", self.proc.pid)


def _shutdown(workers: list[_Worker]) -> None:
    """Kill every worker; the finalizer of a pool (also runs at interpreter exit)."""
    while workers:
        workers.pop().kill()


_IMPORTABLE = (
    "a checker class must be importable by a fresh interpreter, since CheckPool's workers "
    "unpickle it in new processes: define it in an installed package or in a module on "
    "PYTHONPATH (sys.path when the pool starts its workers), not in __main__ or inside a function"
)


def _class_path(checker: object) -> str:
    cls = type(checker)
    return f"{cls.__module__}.{cls.__qualname__}"


def _refuse_unimportable(checker: object) -> None:
    """CheckerImportError for a class no worker can import: one defined in `__main__`
    (the worker's __main__ is checkers/worker.py) or inside a function (`<locals>`)."""
    cls = type(checker)
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        raise CheckerImportError(f"checker class {_class_path(checker)} cannot reach a worker: {_IMPORTABLE}")


def _child_env() -> dict[str, str]:
    # The child must import `star` exactly as this process does (editable install, a
    # source checkout on sys.path, a test's rootdir): hand it our sys.path.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


class CheckPool:
    """Checks (gold, pred) pairs with a checker; never raises on model output.

    Not thread-safe: one pool per run, used from one thread. It raises only when workers
    cannot start at all (a broken environment) or after close().
    """

    def __init__(self, workers: int = 2, timeout: float = 5.0, max_memory_mb: int | None = 1024):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.workers = workers
        self.timeout = timeout
        self.max_memory_mb = max_memory_mb or 0
        self.stats = {"fast": 0, "slow": 0, "timeouts": 0, "crashes": 0, "started": 0}
        self._workers: list[_Worker] = []
        self._start_failures = 0
        self._crashed: dict[int, int] = {}  # per batch: task -> workers it was on when they died
        self._closed = False
        self._finalizer = weakref.finalize(self, _shutdown, self._workers)

    # -- public API -----------------------------------------------------------------------

    def check(
        self,
        checker: Checker,
        pairs: Sequence[tuple[str, str | None]],
        problems: Sequence[Any] | None = None,
    ) -> list[Verdict]:
        """Verdicts for `pairs` (gold first), in input order. `problems`, when given, is
        aligned with `pairs` and reaches a checker whose class has `uses_problem = True`."""
        return [verdict for verdict, _ in self.check_timed(checker, pairs, problems)]

    def check_timed(
        self,
        checker: Checker,
        pairs: Sequence[tuple[str, str | None]],
        problems: Sequence[Any] | None = None,
    ) -> list[tuple[Verdict, float]]:
        """(verdict, seconds) per pair, in input order; seconds is the pair's own check time.

        Raises CheckerImportError when some pair needs a worker and the checker cannot get
        there (its class is not importable by a fresh interpreter, or it does not pickle).
        """
        if self._closed:
            raise RuntimeError("CheckPool is closed")
        if problems is not None and len(problems) != len(pairs):
            raise ValueError(f"problems must be aligned with pairs: {len(problems)} problems for {len(pairs)} pairs")
        with_problem = uses_problem(checker)
        results: list[tuple[Verdict, float] | None] = [None] * len(pairs)
        # Identical pairs are checked once; for a checker that reads the problem, only
        # identical (gold, pred, problem) triples are (the problem by its pickled bytes).
        slow: dict[tuple[str, str | None, bytes], list[int]] = {}
        sent: dict[tuple[str, str | None, bytes], Any] = {}
        for i, (gold, pred) in enumerate(pairs):
            problem = problems[i] if with_problem and problems is not None else None
            start = time.perf_counter()
            try:
                verdict = checker.fast_check(gold, pred, problem) if with_problem else checker.fast_check(gold, pred)
            except Exception:  # fast_check is total by contract; a plugin's may not be
                verdict = Verdict.UNVERIFIABLE
            if verdict is None:
                key = (gold, pred, self._problem_key(problem) if with_problem else b"")
                slow.setdefault(key, []).append(i)
                sent.setdefault(key, problem)
            else:
                results[i] = (verdict, time.perf_counter() - start)
        self.stats["fast"] += len(pairs) - sum(len(v) for v in slow.values())
        if slow:
            self.stats["slow"] += len(slow)
            unique = list(slow)
            payload = self._checker_payload(checker)
            tasks = [(gold, pred, sent[(gold, pred, pk)]) for gold, pred, pk in unique]
            for key, outcome in zip(unique, self._run_slow(payload, checker, tasks), strict=True):
                for i in slow[key]:
                    results[i] = outcome
        return [r if r is not None else (Verdict.UNVERIFIABLE, 0.0) for r in results]

    @staticmethod
    def _problem_key(problem: Any) -> bytes:
        try:
            return pickle.dumps(problem)
        except Exception as e:
            raise TypeError(f"a problem of type {type(problem).__name__} does not pickle ({e}); "
                            "problems travel to the checker workers pickled") from e

    @staticmethod
    def _checker_payload(checker: Checker) -> bytes:
        """The pickled checker, once per batch; CheckerImportError when it cannot travel."""
        _refuse_unimportable(checker)
        try:
            return pickle.dumps(checker)
        except Exception as e:  # a lambda field, an open file, a class pickle cannot find
            raise CheckerImportError(
                f"checker {checker_name(checker)} ({_class_path(checker)}) does not pickle ({e}); "
                f"a checker is a small picklable object (a frozen dataclass), and {_IMPORTABLE}"
            ) from e

    def close(self) -> None:
        """Kill all workers. Idempotent."""
        self._closed = True
        self._finalizer()

    def __enter__(self) -> CheckPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (for tests and monitoring)."""
        return [w.proc.pid for w in self._workers if not w.dead]

    # -- workers ----------------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        to_child_r, to_child_w = os.pipe()
        to_parent_r, to_parent_w = os.pipe()
        soft = self.timeout * SOFT_FRACTION
        cmd = [
            sys.executable, "-m", "star.checkers.worker",
            str(to_child_r), str(to_parent_w), f"{soft:.3f}", str(self.max_memory_mb), str(os.getpid()),
        ]  # fmt: skip
        try:
            proc = subprocess.Popen(
                cmd,
                pass_fds=(to_child_r, to_parent_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=_child_env(),
                start_new_session=True,  # Ctrl-C in a terminal goes to the parent only
            )
        finally:
            os.close(to_child_r)
            os.close(to_parent_w)
        worker = _Worker(
            proc=proc,
            requests=Connection(to_child_w, readable=False),
            replies=Connection(to_parent_r, writable=False),
            started=time.monotonic(),
        )
        self._workers.append(worker)
        self.stats["started"] += 1
        return worker

    def _retire(self, worker: _Worker) -> None:
        worker.kill()
        if worker in self._workers:
            self._workers.remove(worker)

    def _ensure(self, n: int) -> None:
        live = [w for w in self._workers if not w.dead]
        for _ in range(n - len(live)):
            self._spawn()

    def _on_start_failure(self, worker: _Worker) -> None:
        self._retire(worker)
        self._start_failures += 1
        if self._start_failures >= MAX_START_FAILURES:
            raise RuntimeError(
                f"{MAX_START_FAILURES} checker workers in a row died before becoming ready; "
                f"try `{sys.executable} -m star.checkers.worker` to see why"
            )

    # -- the scheduling loop --------------------------------------------------------------

    def _run_slow(
        self, payload: bytes, checker: Checker, unique: list[tuple[str, str | None, Any]]
    ) -> list[tuple[Verdict, float]]:
        out: list[tuple[Verdict, float] | None] = [None] * len(unique)
        pending = deque(range(len(unique)))
        self._crashed = {}
        self._ensure(min(self.workers, len(unique)))
        try:
            while pending or any(w.task is not None for w in self._workers):
                now = time.monotonic()
                for w in list(self._workers):
                    if w.ready and w.task is None and pending and not w.dead:
                        if w.proc.poll() is not None:  # exited between calls
                            self._retire(w)
                            continue
                        self._send(w, pending.popleft(), unique, payload, now, pending)
                self._wait_and_collect(out, pending, checker)
                self._enforce_deadlines(out, pending)
                if pending:
                    self._ensure(min(self.workers, len(pending) + self._busy()))
        except CheckerImportError:
            # Workers still busy on this batch would answer into the next one: retire them.
            for w in [w for w in self._workers if w.task is not None]:
                self._retire(w)
            raise
        return [o if o is not None else (Verdict.UNVERIFIABLE, 0.0) for o in out]

    def _busy(self) -> int:
        return sum(w.task is not None for w in self._workers)

    def _send(
        self, w: _Worker, ti: int, unique: list, checker: bytes, now: float, pending: deque
    ) -> None:
        gold, pred, problem = unique[ti]
        # The pickled checker travels inside each request (it is tiny: a frozen dataclass),
        # as bytes inside the request, so that a worker that cannot unpickle it can still
        # read the task id and say so.
        payload = pickle.dumps((ti, checker, pickle.dumps((gold, pred, problem))))
        try:
            w.requests.send_bytes(payload)
        except (OSError, ValueError):
            pending.appendleft(ti)
            self.stats["crashes"] += 1
            self._retire(w)
            return
        w.task, w.sent, w.deadline = ti, now, now + self.timeout

    def _next_deadline(self) -> float:
        deadlines = [w.deadline for w in self._workers if w.task is not None]
        deadlines += [w.started + START_TIMEOUT for w in self._workers if not w.ready]
        return min(deadlines) if deadlines else time.monotonic() + 1.0

    def _wait_and_collect(self, out: list, pending: deque, checker: Checker) -> None:
        by_conn = {w.replies: w for w in self._workers if not w.dead}
        timeout = max(0.0, self._next_deadline() - time.monotonic())
        for conn in wait(list(by_conn), timeout=timeout):
            w = by_conn[conn]
            try:
                message = json.loads(conn.recv_bytes())
                if not isinstance(message, list) or len(message) < 2:
                    raise ValueError("malformed reply")
            except (EOFError, OSError, ValueError):  # a worker that died or went mad
                self._on_death(w, out, pending)
                continue
            if message[0] == "ready":
                w.ready = True
                self._start_failures = 0
            elif message[0] == "unpickle-error" and w.task is not None:
                w.task = None  # the worker is well: only this checker (or problem) cannot reach it
                what = f"checker class {_class_path(checker)}"
                if len(message) > 3 and message[3] == "problem":
                    what = f"a problem of checker {_class_path(checker)} (its class)"
                raise CheckerImportError(
                    f"{what} could not be loaded in a checker worker ({message[1]}): {_IMPORTABLE}"
                )
            elif w.task is not None and message[0] == w.task:
                out[w.task] = (_verdict(message[1]), time.monotonic() - w.sent)
                w.task = None
                if len(message) > 3 and message[3]:  # the worker exits after this reply
                    self._retire(w)

    def _on_death(self, w: _Worker, out: list, pending: deque) -> None:
        if not w.ready:
            self._on_start_failure(w)
            return
        if w.task is not None:
            # A crash on this pair (memory cap, segfault), or a worker that was already
            # dying when the pair was sent: retry once on another worker, then give up.
            self._crashed[w.task] = self._crashed.get(w.task, 0) + 1
            if self._crashed[w.task] > 1:
                out[w.task] = (Verdict.UNVERIFIABLE, time.monotonic() - w.sent)
                self.stats["crashes"] += 1
                log.warning("checker worker %d died on a pair; replacing it", w.proc.pid)
            else:
                pending.appendleft(w.task)
        self._retire(w)

    def _enforce_deadlines(self, out: list, pending: deque) -> None:
        now = time.monotonic()
        for w in list(self._workers):
            if w.task is not None and now >= w.deadline:
                out[w.task] = (Verdict.UNVERIFIABLE, now - w.sent)
                self.stats["timeouts"] += 1
                log.info("check timed out after %.1f s; killing worker %d", self.timeout, w.proc.pid)
                w.task = None
                self._retire(w)
            elif not w.ready and now >= w.started + START_TIMEOUT:
                self._on_start_failure(w)


def _verdict(value: object) -> Verdict:
    try:
        return Verdict(value)
    except ValueError:
        return Verdict.UNVERIFIABLE
