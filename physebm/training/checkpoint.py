"""Checkpoints of the fit loop: every array it carries, with a fingerprint of the settings, written
atomically to one .npz file.

A checkpoint file holds ``num_leaves``, the array leaves ``leaf_00000 …`` of the loop's carry and
``fingerprint``, a JSON ``{path: text}`` dict from `physebm.training.fingerprint.fingerprint`
(objective type and hyperparameters, optimizer and its hyperparameters, batch size, data shape,
dtype and SHA-256). It is written to a temporary file in the same folder and renamed over the
target (``os.replace``), so a reader sees the old checkpoint or the new one, never half of one;
the temporary file is removed if the write fails (a SIGKILL mid-write leaves a hidden
``.<name>.*.tmp`` beside it and the previous checkpoint intact).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physebm.fileio import probe_writable, read_npz, write_npz_atomic
from physebm.training.fingerprint import differences, fingerprint

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointWarning",
    "check_checkpoint_path",
    "check_resume",
    "load_checkpoint",
    "prepare_checkpoint",
    "resume_or_start",
    "save_checkpoint",
    "save_or_warn",
]

RESUME_MODES = (False, True, "force")
_HERE = (os.path.dirname(os.path.dirname(__file__)),)  # warnings point at the caller of fit


class Checkpoint(NamedTuple):
    """Everything the fit loop carries between steps (the trainable part of the params)."""

    params: Any
    opt_state: Any
    objective_state: Any
    key: jax.Array
    data_key: jax.Array
    step: jax.Array


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or that was written under other settings."""


class CheckpointWarning(UserWarning):
    """A checkpoint was not written, not found for a resume, or resumed under other settings."""


def check_resume(resume) -> bool | str:
    """``resume`` as ``False``, ``True`` or ``"force"`` (resume under other settings too)."""
    if isinstance(resume, bool | np.bool_):
        return bool(resume)
    if resume == "force":
        return "force"
    raise ValueError(f"resume must be True, False or 'force', got {resume!r}")


def check_checkpoint_path(path) -> str:
    """``path`` as a string, after checking that a checkpoint can be written there.

    Raises:
        ValueError: ``path`` is a directory, its folder does not exist or is not a folder, or
            a file cannot be created in that folder (probed with a temporary file).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"checkpoint_path {path!r} is a directory; give a file name (.npz)")
    if not os.path.isdir(folder):
        raise ValueError(
            f"checkpoint_path {path!r}: its folder {folder!r} does not exist (create it first)"
        )
    try:
        probe_writable(folder, prefix=f".{os.path.basename(path)}.")
    except OSError as err:
        raise ValueError(
            f"checkpoint_path {path!r}: cannot write in {folder!r} ({err.strerror or err})"
        ) from err
    return path


def prepare_checkpoint(path, objective, optimizer, data, batch_size: int) -> dict | None:
    """Before training: check ``path`` (`check_checkpoint_path`) and return the settings'
    fingerprint; None when there is no checkpoint."""
    if path is None:
        return None
    check_checkpoint_path(path)
    return fingerprint(objective, optimizer, data, batch_size)


def save_checkpoint(path: str | os.PathLike, tree, fingerprint: dict | None = None) -> None:
    """Write the array leaves of ``tree`` (and ``fingerprint``) to ``path`` (.npz), atomically.

    Non-array leaves are not stored: [`load_checkpoint`][] takes them from its template. The
    bytes go to a temporary file in the same folder, flushed to disk and renamed over ``path``;
    on any failure (or KeyboardInterrupt) the temporary file is removed and the error re-raised.
    """
    leaves = jax.tree.leaves(eqx.filter(tree, eqx.is_array))
    arrays = {f"leaf_{i:05d}": np.asarray(jax.device_get(leaf)) for i, leaf in enumerate(leaves)}
    arrays["fingerprint"] = np.asarray(json.dumps(fingerprint or {}, sort_keys=True))
    write_npz_atomic(path, {"num_leaves": np.asarray(len(leaves)), **arrays})


def save_or_warn(path, tree, fingerprint: dict | None) -> bool:
    """[`save_checkpoint`][], turning an ``OSError`` into a `CheckpointWarning` so that
    a failed save does not lose the run; returns whether the checkpoint was written."""
    try:
        save_checkpoint(path, tree, fingerprint)
    except OSError as err:
        step = getattr(tree, "step", None)
        at = f" at step {int(step)}" if step is not None else ""
        warnings.warn(
            f"could not write checkpoint_path {os.fspath(path)!r}{at}: {err}; training goes on "
            "and fit still returns its result, but this state is not saved",
            CheckpointWarning,
            skip_file_prefixes=_HERE,
        )
        return False
    return True


def _read(path: str) -> tuple[list[np.ndarray], dict | None]:
    """The stored leaves and fingerprint (None for a file written without one)."""

    def read(f):
        stored = [f[f"leaf_{i:05d}"] for i in range(int(f["num_leaves"]))]
        text = str(f["fingerprint"]) if "fingerprint" in f.files else None
        return stored, (None if text is None else json.loads(text))

    return read_npz(
        path,
        read,
        CheckpointError,
        f"checkpoint {path!r} is corrupt, truncated or not a physebm checkpoint; delete it or "
        "pass another checkpoint_path",
    )


def load_checkpoint(
    path: str | os.PathLike, like, fingerprint: dict | None = None, force: bool = False
):
    """Read a checkpoint written by [`save_checkpoint`][] into the structure of ``like``.

    With ``fingerprint``, the stored one must be equal (else `CheckpointError` listing
    what differs), unless ``force`` (then a `CheckpointWarning`).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError (a ValueError): the file is corrupt or truncated, its fingerprint differs,
            or its leaves do not match ``like`` in number, shape or dtype.
    """
    path = os.fspath(path)
    stored, stored_fp = _read(path)
    if fingerprint is not None:
        _check_fingerprint(path, stored_fp, fingerprint, force)
    arrays, static = eqx.partition(like, eqx.is_array)
    leaves, treedef = jax.tree.flatten(arrays)
    if len(stored) != len(leaves):
        raise CheckpointError(
            f"checkpoint {path} holds {len(stored)} arrays but the run expects {len(leaves)}: "
            "it was written for other params/optimizer/objective"
        )
    for i, (new, old) in enumerate(zip(stored, leaves, strict=True)):
        if new.shape != jnp.shape(old) or new.dtype != jnp.result_type(old):
            raise CheckpointError(
                f"checkpoint {path} array {i} has shape {new.shape} dtype {new.dtype}, expected "
                f"{jnp.shape(old)} {jnp.result_type(old)}"
            )
    restored = treedef.unflatten([jnp.asarray(a) for a in stored])
    return eqx.combine(restored, static)


def _check_fingerprint(path: str, stored: dict | None, current: dict, force: bool) -> None:
    """Refuse (or, with ``force``, warn about) a checkpoint written under other settings."""
    if stored is None or stored == {}:
        warnings.warn(
            f"checkpoint {path!r} has no settings fingerprint (an older file): resuming without "
            "checking that the objective, optimizer, batch size and data are the same",
            CheckpointWarning,
            skip_file_prefixes=_HERE,
        )
        return
    diff = differences(stored, current)
    if not diff:
        return
    lines = "\n  ".join(diff)
    if not force:
        raise CheckpointError(
            f"checkpoint {path!r} was written under other settings (stored -> now):\n  {lines}\n"
            "Use the original settings, another checkpoint_path, or resume='force' to resume "
            "anyway."
        )
    warnings.warn(
        f"resume='force': resuming {path!r} under other settings (stored -> now):\n  {lines}",
        CheckpointWarning,
        skip_file_prefixes=_HERE,
    )


def resume_or_start(start: Checkpoint, path, resume, fingerprint, num_steps: int) -> Checkpoint:
    """The carry a fit begins with: ``start``, or with ``resume`` the checkpoint at ``path``.

    Warns (`CheckpointWarning`) when ``resume`` finds no file (training starts at step
    0) and when the checkpoint is already at or past ``num_steps`` (no step runs).
    """
    if not resume:
        return start
    if not os.path.exists(path):
        warnings.warn(
            f"resume=True but checkpoint_path {os.fspath(path)!r} does not exist: starting from "
            "step 0",
            CheckpointWarning,
            skip_file_prefixes=_HERE,
        )
        return start
    state = load_checkpoint(path, start, fingerprint, force=resume == "force")
    step = int(state.step)
    if step >= num_steps:
        warnings.warn(
            f"checkpoint {os.fspath(path)!r} is at step {step} >= num_steps={num_steps}: no "
            "step runs; fit returns the checkpoint's state (raise num_steps to train on)",
            CheckpointWarning,
            skip_file_prefixes=_HERE,
        )
    return state
