"""Small file-system checks shared by the checkpoints and the command line."""

from __future__ import annotations

import os
import tempfile

__all__ = ["current_umask", "probe_writable"]


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
