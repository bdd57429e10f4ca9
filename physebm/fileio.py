"""Small file-system helpers shared by the checkpoints, `physebm.save` and the command line."""

from __future__ import annotations

import os
import tempfile

import numpy as np

__all__ = ["current_umask", "probe_writable", "read_npz", "write_npz_atomic"]


def probe_writable(folder, prefix: str = ".physebm-write-test-") -> None:
    """Create a temporary file in ``folder`` and remove it at once.

    Raises:
        OSError: ``folder`` is not a folder, or a file cannot be created in it.
    """
    fd, probe = tempfile.mkstemp(dir=os.fspath(folder), prefix=prefix, suffix=".tmp")
    os.close(fd)
    os.unlink(probe)


def current_umask() -> int:
    """The process's file-mode creation mask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_npz_atomic(path, arrays: dict) -> None:
    """Write ``arrays`` (name -> numpy array) to the ``.npz`` file ``path``, atomically.

    The bytes go to a temporary file in the same folder, flushed to disk and renamed over
    ``path`` (``os.replace``), so a reader sees the old file or the new one, never half of one;
    on any failure (or KeyboardInterrupt) the temporary file is removed and the error re-raised.
    The file gets the usual mode (0o666 less the umask).
    """
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp made it 0o600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_npz(path, read, error: type[Exception], message: str):
    """``read(npz)`` on the ``.npz`` file ``path``, opened without pickles.

    Raises:
        FileNotFoundError: no file at ``path``.
        error: any other failure (not a zip, a pickle refusal, a missing entry, bad JSON),
            with ``message`` followed by the cause.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            return read(f)
    except FileNotFoundError:
        raise
    except Exception as err:  # BadZipFile, a pickle refusal, a missing key, bad JSON, ...
        raise error(f"{message} ({type(err).__name__}: {err})") from err
