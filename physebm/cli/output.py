"""Output folders the command never clobbers and never leaves half-written.

A run that writes files goes through two steps:

1. `check_output` before any work: ``--out`` must be a folder that is absent or empty,
   or, with ``--overwrite``, a folder of files (a previous output: no subfolders, not the
   working folder, one of its parents or the home folder); the nearest existing folder above it
   must be writable (probed with a temporary file, removed at once). Nothing is created.
2. `staged` when the results are ready: the files are written into a fresh hidden folder
   ``.<name>.incomplete-XXXX`` beside ``--out`` (holding an ``INCOMPLETE`` note until it is
   complete), which is then renamed onto ``--out`` (``os.rename``: atomic on one file system,
   and it replaces an empty folder). With ``--overwrite`` the old folder is first renamed
   aside and deleted once the new one is in place. An exception or Ctrl-C removes the staging
   folder (and any parent folders it created); a SIGKILL leaves it, marked incomplete. If
   ``--out`` filled up while the run went on, the results go to ``<out>-1`` (``-2``, …) instead.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import tempfile
from pathlib import Path

from physebm.fileio import current_umask, probe_writable

__all__ = ["Staged", "check_output", "staged"]

INCOMPLETE = "INCOMPLETE"


def check_output(out, overwrite: bool = False) -> Path:
    """``--out`` as a Path once it is safe to write there (module docstring); creates nothing.

    Raises:
        ValueError: ``--out`` is a file, or a non-empty folder without ``--overwrite``, or one
            ``--overwrite`` must not replace.
        OSError: no writable folder to create ``--out`` in.
    """
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file, not a folder")
    if target.is_dir() and any(target.iterdir()):
        if not overwrite:
            raise ValueError(
                f"--out {str(out)!r} is not empty ({_listing(target)}); pass --overwrite to "
                "replace it, or choose another folder"
            )
        _check_replaceable(target)
    _probe(_nearest_existing(target.absolute().parent), out)
    return target


def _listing(folder: Path, limit: int = 4) -> str:
    names = sorted(p.name for p in folder.iterdir())
    more = f", ... {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _check_replaceable(target: Path) -> None:
    """``--overwrite`` replaces only a folder of files that is not an ancestor of the cwd/home."""
    resolved = target.resolve()
    cwd, home = Path.cwd().resolve(), Path.home().resolve()
    if resolved in (cwd, home) or resolved in cwd.parents or resolved in home.parents:
        raise ValueError(
            f"--overwrite will not replace {str(target)!r}: it is the working folder, the home "
            "folder or a parent of one; choose another --out"
        )
    folders = [p.name for p in target.iterdir() if p.is_dir() and not p.is_symlink()]
    if folders:
        raise ValueError(
            f"--overwrite replaces only a folder of files (a previous physebm output); "
            f"{str(target)!r} holds folders ({', '.join(sorted(folders)[:4])}): choose another "
            "--out"
        )


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _probe(folder: Path, out) -> None:
    """Check that a file can be created in ``folder`` (and remove it)."""
    try:
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{folder} is not a folder")
        probe_writable(folder)
    except OSError as err:
        raise OSError(
            f"--out {str(out)!r} is not a writable folder: {err.strerror or err}"
        ) from err


class Staged:
    """The staging folder of one run: write into ``path``; ``final`` is where it ended up."""

    def __init__(self, path: Path, target: Path):
        self.path = path
        self.target = target
        self.final: Path | None = None


@contextlib.contextmanager
def staged(target, overwrite: bool = False):
    """Write into a hidden staging folder, renamed onto ``target`` on success (module docstring).

    Yields:
        `Staged`; after the ``with`` block, ``final`` is the folder holding the output.
    """
    target = Path(target)
    created = _make_parents(target.absolute().parent)
    try:
        path = Path(
            tempfile.mkdtemp(dir=target.absolute().parent, prefix=f".{target.name}.incomplete-")
        )
    except BaseException:
        _remove_empty(created)
        raise
    stage = Staged(path, target)
    try:
        (path / INCOMPLETE).write_text(
            "A physebm run that did not finish wrote this folder; its files may be partial.\n"
        )
        yield stage
        (path / INCOMPLETE).unlink()
        path.chmod(0o777 & ~current_umask())  # mkdtemp made it 0o700
        stage.final = _commit(path, target, overwrite)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        _remove_empty(created)
        raise


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    missing.reverse()
    created = []
    try:
        for p in missing:
            p.mkdir()
            created.append(p)
    except BaseException:
        _remove_empty(created)
        raise
    return created


def _remove_empty(folders: list[Path]) -> None:
    for p in reversed(folders):
        with contextlib.suppress(OSError):
            p.rmdir()


def _commit(stage: Path, target: Path, overwrite: bool) -> Path:
    """Rename ``stage`` onto ``target`` (replacing an empty folder, or with ``overwrite`` a
    previous output); elsewhere (``<target>-N``) if ``target`` filled up meanwhile."""
    with contextlib.suppress(OSError):
        if not target.exists() or not any(target.iterdir()):
            os.rename(stage, target)
            return target
    if overwrite and target.is_dir():
        with contextlib.suppress(ValueError):
            _check_replaceable(target)
            old = Path(tempfile.mkdtemp(dir=stage.parent, prefix=f".{target.name}.replaced-"))
            os.rename(target, old / target.name)
            try:
                os.rename(stage, target)
            except BaseException:
                os.rename(old / target.name, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
            return target
    n = 1
    while Path(f"{target}-{n}").exists():
        n += 1
    alt = Path(f"{target}-{n}")
    os.rename(stage, alt)
    print(
        f"warning: --out {str(target)!r} was filled by something else while this run went on; "
        f"the results are in {str(alt)!r}",
        file=sys.stderr,
    )
    return alt
