"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A reader never sees a partial file, and an interrupted write leaves the old file intact. The
temporary file is removed on any exit Python sees (an exception, Ctrl-C, SIGTERM through the
command line's handler). A process killed outright (SIGKILL, power loss) cannot clean up: its
temporary file is named after its process id, ignored by every reader, and removed by the next
write to the same target once that process is gone.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "remove_stale_temporaries"]

#: ``.NAME.HOST.PID.RANDOM.tmp``: the temporary files :func:`atomic_path` creates.
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<host>[^.]*)\.(?P<pid>\d+)\.[^.]+\.tmp$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove temporary files left beside ``path`` by killed writers on this host.

    A temporary file whose writer is still running, or was written from another host (a
    shared file system), is left alone. Returns the removed files.
    """
    path = Path(path)
    removed: list[Path] = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    host = _host()
    for entry in entries:
        m = _TEMP.match(entry.name)
        if not m or m["name"] != path.name or m["host"] != host:
            continue
        pid = int(m["pid"])
        if pid != os.getpid() and not _alive(pid):
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    prefix = f".{path.name}.{_host()}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
