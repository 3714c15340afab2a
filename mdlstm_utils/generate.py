"""Batched autoregressive sampling of long state trajectories from a trained model.

Many trajectories are generated at once. The model's state (the LSTM's
recurrent state, the Transformer's sliding-window key/value cache) is carried
from step to step (``model.step``), so each new frame costs one token's work no
matter how long the trajectory already is. Sampling is done on the device by
inverse-CDF look-up of one uniform number per trajectory; frames are buffered
on the device and copied to the host in chunks, so memory stays bounded for
long trajectories.

``use_cache=False`` is the slow reference for models with a finite window
(:class:`~mdlstm_utils.models.TransformerLM`): it re-encodes the last
``model.receptive_field`` frames with a full forward pass at every step.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .runtime import resolve_device
from .states import check_labels

__all__ = ["generate", "sample_next"]


def sample_next(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """Draw one state per row of ``logits`` (``(batch, n_states)``) at the given temperature."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    cdf = probs.cumsum(-1)
    u = torch.rand((logits.shape[0], 1), generator=generator, device=logits.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u).squeeze(-1).clamp_(max=logits.shape[-1] - 1)


def _out_dtype(n_states: int):
    return np.int16 if n_states <= np.iinfo(np.int16).max else np.int32


def generate(
    model: nn.Module,
    n_steps: int,
    *,
    prompt=None,
    start=None,
    temperature: float = 1.0,
    seed: int = 0,
    device: str | torch.device = "auto",
    chunk_size: int = 2048,
    progress: bool = True,
    use_cache: bool = True,
) -> np.ndarray:
    """Generate ``n_steps`` new frames for each of a batch of trajectories.

    Parameters
    ----------
    model
        A trained model with ``forward``, ``init_state`` and ``step``
        (see :mod:`mdlstm_utils.models`).
    n_steps
        Frames to generate per trajectory.
    prompt
        Context to start from, shape ``(n_traj, t0)`` of state labels (e.g. short
        windows of the reference data); the model reads it before sampling.
        For a model with a finite ``receptive_field`` (:class:`TransformerLM`)
        only the prompt's last ``receptive_field`` frames are read, which gives
        the same result as reading all of it.
    start
        Alternatively, one start state per trajectory, shape ``(n_traj,)``;
        equivalent to a prompt of length 1.
    temperature
        Softmax temperature (1 samples the learned distribution).
    seed, device
        Same seed and device -> the same trajectories.
    chunk_size
        Frames kept on the device before they are copied to the host.
    progress
        Show a tqdm progress bar.
    use_cache
        ``True``: step with the model's state (``model.step``). ``False``: the
        slow reference path for models with a finite ``receptive_field``:
        every step re-encodes the last ``receptive_field`` frames with a full
        forward pass. Both give the same logits (up to float rounding), so the
        same seed gives the same trajectories.

    Returns
    -------
    numpy.ndarray
        Labels of shape ``(n_traj, n_steps)`` (``int16``, or ``int32`` for more
        than 32767 states). The prompt is not included.
    """
    if (prompt is None) == (start is None):
        raise ValueError("give exactly one of prompt= (n_traj, t0) or start= (n_traj,)")
    n_states = model.config["n_states"]
    if prompt is None:
        start_arr = np.asarray(start)
        if start_arr.ndim != 1:
            raise ValueError(f"start must be 1-D (one state per trajectory), got shape {start_arr.shape}")
        prompt = start_arr[:, None]
    prompt_arr = np.asarray(prompt)
    if prompt_arr.ndim != 2 or prompt_arr.shape[0] == 0 or prompt_arr.shape[1] == 0:
        raise ValueError(f"prompt must have shape (n_traj, t0) with n_traj, t0 >= 1, got {prompt_arr.shape}")
    check_labels(prompt_arr, n_states, name="prompt")
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps must be an int >= 1, got {n_steps!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
        math.isfinite(temperature) and temperature > 0
    ):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if not isinstance(use_cache, bool):
        raise TypeError(f"use_cache must be True or False, got {type(use_cache).__name__} ({use_cache!r})")
    window = getattr(model, "receptive_field", None)
    if not use_cache and window is None:
        raise ValueError(
            f"use_cache=False re-encodes a finite window at every step, but {type(model).__name__} "
            "has unbounded memory (no receptive_field); use use_cache=True"
        )
    if window is not None and prompt_arr.shape[1] > window:
        prompt_arr = prompt_arr[:, -window:]  # earlier frames cannot change the next-step distribution

    dev = resolve_device(device)
    model = model.to(dev).eval()
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed))
    n_traj = prompt_arr.shape[0]
    out = np.empty((n_traj, n_steps), dtype=_out_dtype(n_states))
    buf = torch.empty((min(chunk_size, n_steps), n_traj), dtype=torch.int64, device=dev)

    with torch.inference_mode():
        p = torch.as_tensor(prompt_arr.astype(np.int64), device=dev)
        if use_cache:
            state = model.init_state(n_traj, dev)
            if p.shape[1] > 1:
                _, state = model(p[:, :-1], state)
            tok = p[:, -1]
        else:
            history = p  # the last `window` frames, re-encoded at every step
        bar = tqdm(total=n_steps, desc="generate", unit="step", disable=not progress, mininterval=0.5)
        done = 0
        while done < n_steps:
            n = min(buf.shape[0], n_steps - done)
            for i in range(n):
                if use_cache:
                    logits, state = model.step(tok, state)
                else:
                    logits = model(history)[0][:, -1]
                tok = sample_next(logits, temperature, gen)
                buf[i] = tok
                if not use_cache:
                    history = torch.cat((history, tok[:, None]), dim=1)[:, -window:]
            out[:, done : done + n] = buf[:n].T.cpu().numpy()
            done += n
            bar.update(n)
        bar.close()
    return out
