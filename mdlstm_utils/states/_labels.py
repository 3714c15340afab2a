"""Validation of label and feature trajectories, and the layout of per-trajectory results.

Every function of :mod:`mdlstm_utils.states` accepts one trajectory, a 2-D
array (one trajectory per row, for labels) or a list of trajectories; these
helpers read those inputs and give results back in the layout they came in.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["check_labels"]


def check_labels(labels, n_states: int | None = None, name: str = "labels") -> list[np.ndarray]:
    """Validate label trajectories and return them as a list of 1-D ``int64`` arrays.

    Accepts one 1-D array, a 2-D array (one trajectory per row) or a list of
    1-D arrays. Raises a clear error for floats that are not whole numbers,
    negative labels, labels ``>= n_states`` and empty trajectories.
    """
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    if isinstance(labels, np.ndarray):
        if labels.ndim == 1:
            trajs = [labels]
        elif labels.ndim == 2:
            trajs = list(labels)
        else:
            raise ValueError(f"{name} must be 1-D or 2-D (trajectories x frames), got shape {labels.shape}")
    elif isinstance(labels, (list, tuple)):
        if len(labels) == 0:
            raise ValueError(f"{name} is empty; expected at least one trajectory")
        if all(np.isscalar(v) for v in labels):
            trajs = [np.asarray(labels)]
        else:
            trajs = [np.asarray(t) for t in labels]
    else:
        raise TypeError(f"{name} must be a NumPy array or a list of arrays, got {type(labels).__name__}")
    out = []
    for i, t in enumerate(trajs):
        t = np.asarray(t)
        if t.ndim != 1:
            raise ValueError(f"{name}[{i}] must be 1-D, got shape {t.shape}")
        if t.size == 0:
            raise ValueError(f"{name}[{i}] is empty")
        if not np.issubdtype(t.dtype, np.integer):
            if not np.issubdtype(t.dtype, np.floating) or not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
                raise TypeError(f"{name}[{i}] must hold integer state labels, got dtype {t.dtype}")
        t = t.astype(np.int64)
        if t.min() < 0:
            raise ValueError(f"{name}[{i}] holds a negative label ({t.min()}); labels must be >= 0")
        if n_states is not None and t.max() >= n_states:
            raise ValueError(
                f"{name}[{i}] holds label {t.max()} but n_states={n_states}; labels must be in [0, {n_states - 1}]"
            )
        out.append(t)
    return out


def as_feature_list(X, name: str = "X", dim: int | None = None) -> tuple[list[np.ndarray], bool]:
    """Validate features: one ``(T, d)`` array (``(T,)`` means ``d = 1``) or a list of them.

    Returns the trajectories as a list of C-contiguous 2-D float arrays (float32
    stays float32, anything else becomes float64) and whether the input was a list.
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if isinstance(X, np.ndarray):
        trajs, is_list = [X], False
    elif isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise ValueError(f"{name} is an empty list; expected at least one (T, d) array")
        trajs, is_list = [x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x for x in X], True
    else:
        raise TypeError(f"{name} must be a (T, d) NumPy array or a list of them, got {type(X).__name__}")
    out = []
    for i, x in enumerate(trajs):
        where = f"{name}[{i}]" if is_list else name
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise TypeError(f"{where} must hold real numbers, got dtype {x.dtype}")
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise ValueError(f"{where} must be 2-D (frames x features), got shape {x.shape}")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{where} is empty (shape {x.shape}); expected at least one frame and one feature")
        x = np.ascontiguousarray(x, dtype=np.float32 if x.dtype == np.float32 else np.float64)
        if not np.all(np.isfinite(x)):
            bad = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f"{where} contains NaN or inf (first at frame {bad[0]}, feature {bad[1]}); features must be finite")
        out.append(x)
    d = out[0].shape[1]
    for i, x in enumerate(out):
        if x.shape[1] != d:
            raise ValueError(f"{name}[{i}] has {x.shape[1]} features but {name}[0] has {d}; all trajectories need the same d")
    if dim is not None and d != dim:
        raise ValueError(f"{name} has {d} features per frame but {dim} are expected")
    return out, is_list


def like_input(out: list[np.ndarray], like, *, rows: str = "stack"):
    """Return per-trajectory results ``out`` (one array per trajectory, in order) in the layout of the input ``like``.

    * a list or tuple of trajectories -> the list ``out``; a list of scalar
      labels (one trajectory) -> ``out[0]``;
    * ``rows="frames"`` (``like`` holds features): any array or tensor is one
      trajectory of frames x features -> ``out[0]``;
    * otherwise (``like`` holds labels): a 1-D array -> ``out[0]``; a 2-D
      array (one trajectory per row) -> a 2-D array with ``rows="stack"`` when
      all results have the same length, the list ``out`` with ``rows="list"``
      (results that may differ in length, e.g. after frames were dropped); a
      torch tensor -> the list ``out``.
    """
    if rows not in ("stack", "list", "frames"):
        raise ValueError(f"rows={rows!r}; expected 'stack', 'list' or 'frames'")
    if isinstance(like, (list, tuple)):
        return out[0] if len(like) and all(np.isscalar(v) for v in like) else out
    if rows == "frames" or (isinstance(like, np.ndarray) and like.ndim == 1):
        return out[0]
    if isinstance(like, np.ndarray) and like.ndim == 2 and rows == "stack" and len({len(o) for o in out}) == 1:
        return np.stack(out)
    return out
