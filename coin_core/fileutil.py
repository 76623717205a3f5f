"""Atomic file writing: outputs appear whole or not at all.

``atomic_path(target)`` yields a temporary path in the same folder; the caller writes there and
the file is renamed over ``target`` only when the block ends without an exception.
``OutputSet`` does the same for a group of files (``coin segment`` writes five at once): nothing is
renamed until every file of the group is written, and existing files are refused unless
``overwrite`` is set.

Temporary names are ``.<target name>.coin-<host tag>-<pid>-<random>.part<suffixes>``. A process
killed with SIGKILL (or a power cut) cannot remove its own; :func:`remove_stale_parts` removes those
whose writer was on this machine and is no longer running, and nothing else (``OutputSet`` calls it
for its folders, so the next run into a folder cleans up after a killed one).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from coin_core.errors import CoinError


def _umask_mode() -> int:
    """The mode a plain ``open(..., "w")`` would give (mkstemp files are 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _publish(tmp: Path, target: Path) -> None:
    if tmp.is_file():
        os.chmod(tmp, _umask_mode())
    os.replace(tmp, target)


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


_PART = re.compile(r"^\..+\.coin-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[A-Za-z0-9_]+\.part(\..+)?$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's) or cannot tell: keep its files
    return True


def remove_stale_parts(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove this module's temporary files in ``folder`` left by dead writers on this machine.

    Only names of this module's pattern count (see the module docstring); files of a running
    writer, of another machine (a shared network folder) and every other file stay.

    Returns:
        The removed paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    host, removed = _host_tag(), []
    for entry in os.scandir(folder):
        match = _PART.match(entry.name)
        if not match or match["host"] != host or _alive(int(match["pid"])):
            continue
        if entry.is_file(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _tmp_name(target: Path) -> Path:
    prefix = f".{target.name}.coin-{_host_tag()}-{os.getpid()}-"
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=target.parent)
    os.close(fd)
    # keep the real suffixes at the end so writers that pick a format by extension still work
    suffix = "".join(target.suffixes)
    tmp = Path(name[: -len(".part")] + ".part" + suffix)
    os.replace(name, tmp)
    return tmp


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it to ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(target)
    try:
        yield tmp
        _publish(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


class OutputSet:
    """Write several files as one unit: all of them appear, or none do.

    Example::

        with OutputSet([a, b], overwrite=False) as out:
            write_a(out.tmp(a)); write_b(out.tmp(b))
    """

    def __init__(self, targets: list[Path], overwrite: bool = False) -> None:
        self.targets = [Path(t) for t in targets]
        self.removed_stale = [
            p for d in dict.fromkeys(t.parent for t in self.targets) for p in remove_stale_parts(d)
        ]
        existing = [str(t) for t in self.targets if t.exists()]
        if existing and not overwrite:
            raise CoinError(
                "These output files already exist: " + ", ".join(existing),
                "choose another output folder, delete them, or pass --overwrite.",
            )
        self._tmp: dict[Path, Path] = {}

    def tmp(self, target: Path) -> Path:
        target = Path(target)
        if target not in self._tmp:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._tmp[target] = _tmp_name(target)
        return self._tmp[target]

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        try:
            if exc_type is None:
                for target, tmp in self._tmp.items():
                    _publish(tmp, target)
        finally:
            for tmp in self._tmp.values():
                if tmp.exists():
                    tmp.unlink()
