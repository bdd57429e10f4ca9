"""Partition functions: exact routes and estimators, all returning :class:`LogZ`."""

from physebm.partition.exact import exact
from physebm.partition.result import LogZ

__all__ = ["LogZ", "exact"]
