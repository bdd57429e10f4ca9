"""The ``physebm`` command."""

from physebm.cli.main import main

__all__ = ["main"]
