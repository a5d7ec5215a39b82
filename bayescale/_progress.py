"""Progress lines that work without a terminal (CI logs, ``nohup``, Slurm output files).

A progress bar redraws one line with carriage returns, which a log file turns into noise or
nothing. :class:`Progress` instead prints a plain line every few seconds: what is done out of
the total, any counters (divergences, failures), the time elapsed and an estimate of the time
left. Long jobs (fits, back-tests, sweeps) share it; :meth:`Progress.update` may be called from
any thread, as often as wanted.

Examples
--------
>>> import io
>>> out = io.StringIO()
>>> clock = iter([0, 4]).__next__
>>> p = Progress("fit", total=8000, unit="draws", every=0.0, stream=out, clock=clock)
>>> p.update(2000, divergences=1)
>>> print(out.getvalue().strip())
bayescale: fit: 2000/8000 draws (25%), 1 divergences, 4 s elapsed, about 12 s left
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import IO

__all__ = ["DEFAULT_EVERY_S", "Progress", "format_seconds"]

#: Seconds between two progress lines.
DEFAULT_EVERY_S = 5.0


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 05 s`` or ``2 h 07 min``.

    Examples
    --------
    >>> format_seconds(42.4), format_seconds(185), format_seconds(7620)
    ('42 s', '3 min 05 s', '2 h 07 min')
    """
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """Print ``bayescale: LABEL: done/total UNIT (pct), counters, elapsed, left`` periodically.

    Parameters
    ----------
    label : str
        What is running (``"fit"``, ``"back-test"``, ``"sweep"``).
    total : int
        Units of work in all.
    unit : str
        Name of the unit (``"draws"``, ``"folds"``, ``"runs"``).
    every : float
        Seconds between lines (the first line comes ``every`` seconds after the start; a job
        that finishes sooner prints none).
    stream : file, optional
        Where to print (default ``sys.stderr``).
    clock : callable, optional
        Monotonic time in seconds (default :func:`time.monotonic`); for tests.
    """

    def __init__(
        self,
        label: str,
        total: int,
        *,
        unit: str = "steps",
        every: float = DEFAULT_EVERY_S,
        stream: IO[str] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.label = label
        self.total = max(int(total), 1)
        self.unit = unit
        self.every = float(every)
        self.stream = stream
        self._clock = clock or time.monotonic
        self._start = self._clock()
        self._last = self._start
        self._first: tuple[float, int] | None = None  # (time, done) of the first work reported
        self._lock = threading.Lock()
        self.lines = 0

    def line(self, done: int, elapsed: float, rate: float | None = None, **counters: int) -> str:
        """The progress line for ``done`` units after ``elapsed`` seconds.

        ``rate`` (units per second) estimates the time left; by default ``done / elapsed``.
        """
        done = min(max(int(done), 0), self.total)
        parts = [f"{done}/{self.total} {self.unit} ({100 * done / self.total:.0f}%)"]
        parts += [f"{value} {name}" for name, value in counters.items()]
        parts.append(f"{format_seconds(elapsed)} elapsed")
        rate = rate if rate is not None else (done / elapsed if elapsed > 0 else None)
        if 0 < done < self.total and rate:
            parts.append(f"about {format_seconds((self.total - done) / rate)} left")
        return f"bayescale: {self.label}: " + ", ".join(parts)

    def update(self, done: int, *, force: bool = False, **counters: int) -> None:
        """Report ``done`` units; prints when ``every`` seconds passed since the last line."""
        with self._lock:
            now = self._clock()
            if self._first is None and done > 0:
                # the rate is measured from the first work reported, so a set-up phase
                # (compiling a model) does not inflate the time left
                self._first = (now, done)
            if not force and now - self._last < self.every:
                return
            self._last = now
            rate = None
            if self._first is not None and now > self._first[0] and done > self._first[1]:
                rate = (done - self._first[1]) / (now - self._first[0])
            text = self.line(done, now - self._start, rate, **counters)
            stream = self.stream or sys.stderr
            print(text, file=stream, flush=True)
            self.lines += 1
