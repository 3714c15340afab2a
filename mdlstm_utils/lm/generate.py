"""Batched autoregressive sampling of long state trajectories from a trained model.

Many trajectories are generated at once. The model's state (the LSTM's
recurrent state, the Transformer's sliding-window key/value cache) is carried
from step to step (``model.step``), so each new frame costs one token's work no
matter how long the trajectory already is. Sampling is done on the device by
inverse-CDF look-up of one uniform number per trajectory; frames are buffered
on the device and copied to the host in chunks, so memory stays bounded for
long trajectories.

``use_cache=False`` is the slow reference for models with a finite window
(:class:`~mdlstm_utils.lm.models.TransformerLM`): it re-encodes the last
``model.receptive_field`` frames with a full forward pass at every step.

``fast=True`` (the default on a CUDA GPU for :class:`~mdlstm_utils.lm.models.LSTMLM`)
runs the step loop in blocks of ``block`` steps on static buffers: the uniform
numbers of a whole block are drawn at once, and on CUDA the block is captured
once in a CUDA graph and replayed, so the host launches one graph per block
instead of a dozen kernels per step, and never waits for the device until a
chunk of frames is copied back. On the CPU the same block code runs eagerly
(that is how the tests check it against the plain loop).

``step_transform`` is a hook for a per-step change of the next-state
distribution that depends on the current state, applied on every path (plain,
fast, CUDA graph) to the model's logits before sampling: for example the
calibration of the probability of transitions unseen in training
(:mod:`mdlstm_utils.lm.calibrate`). Without it the paths are what they were:
same seed, same trajectories.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mdlstm_utils.runtime import resolve_device
from mdlstm_utils.states import check_labels

__all__ = ["generate", "generate_chunks", "sample_next", "sample_with_uniform", "StepTransform"]

#: A per-step transform of the next-state logits: ``(logits (n_traj, n_states), current (n_traj,) int64) -> logits``.
#: ``current`` holds the state each trajectory is in (the token the model just read), so the transform can depend
#: on it. It runs on the device inside the step loop (and inside a captured CUDA graph on the fast path): pure
#: tensor code, no host synchronisation, no new random numbers.
StepTransform = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def sample_with_uniform(logits: torch.Tensor, temperature: float, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw of one state per row of ``logits`` (``(batch, n_states)``) from given uniforms ``u`` (``(batch, 1)``)."""
    logits = logits.float()
    probs = torch.softmax(logits if temperature == 1 else logits / temperature, dim=-1)
    cdf = probs.cumsum(-1)
    return torch.searchsorted(cdf, u * cdf[:, -1:]).squeeze(-1).clamp_(max=logits.shape[-1] - 1)


def sample_next(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """Draw one state per row of ``logits`` (``(batch, n_states)``) at the given temperature."""
    u = torch.rand((logits.shape[0], 1), generator=generator, device=logits.device)
    return sample_with_uniform(logits, temperature, u)


class _BlockStepper:
    """``block`` generation steps of a model with a fixed-size state, on static buffers (CUDA-graph safe).

    The state (token and recurrent state) lives in buffers that every step
    updates in place; the uniforms of a block are drawn into ``u`` before it
    runs, and its frames land in ``frames``. On CUDA, :meth:`run` of a full
    block replays a captured graph of the same code.
    """

    def __init__(self, model: nn.Module, tok: torch.Tensor, state, block: int, temperature: float, graph: bool,
                 precision: str, transform: StepTransform | None = None):
        # the model's leaner inference step when it has one (LSTMLM.step_function), else its plain step
        self.step = model.step_function() if hasattr(model, "step_function") else model.step
        self.transform = transform
        self.block, self.temperature, self.precision = block, temperature, precision
        self.tok = tok.clone()
        self.state = tuple(s.clone() for s in state)
        n, dev = tok.shape[0], tok.device
        self.u = torch.empty((block, n, 1), device=dev)
        self.frames = torch.empty((block, n), dtype=torch.int64, device=dev)
        self.graph = None
        if graph:
            saved = (self.tok.clone(), tuple(s.clone() for s in self.state))
            try:
                with matmul_precision(precision, tok.device):
                    self._capture()
            except Exception as exc:  # never lose a generation run to the capture: step the same code eagerly
                warnings.warn(f"CUDA graph capture failed ({type(exc).__name__}: {exc}); generating without a graph",
                              RuntimeWarning, stacklevel=3)
                self.graph = None
            self.tok.copy_(saved[0])  # the warm-up advanced the state: put it back
            for buf, s0 in zip(self.state, saved[1]):
                buf.copy_(s0)

    def _steps(self, k: int) -> None:
        for i in range(k):
            logits, new_state = self.step(self.tok, self.state)
            if self.transform is not None:
                logits = self.transform(logits, self.tok)
            t = sample_with_uniform(logits, self.temperature, self.u[i])
            self.frames[i].copy_(t)
            self.tok.copy_(t)
            for buf, new in zip(self.state, new_state):
                buf.copy_(new)

    def _capture(self) -> None:
        self.u.uniform_()
        side = torch.cuda.Stream(device=self.tok.device)
        side.wait_stream(torch.cuda.current_stream(self.tok.device))
        with torch.cuda.stream(side):  # warm-up outside the graph (lazy initialisation, workspaces)
            self._steps(self.block)
        torch.cuda.current_stream(self.tok.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._steps(self.block)  # the matmul precision in force now is baked into the graph

    def run(self, k: int, generator: torch.Generator) -> torch.Tensor:
        """Advance ``k <= block`` steps; returns the ``(k, n_traj)`` frames (a view, valid until the next call)."""
        torch.rand(self.u.shape, generator=generator, device=self.u.device, out=self.u)
        if self.graph is not None and k == self.block:
            self.graph.replay()
        else:
            with matmul_precision(self.precision, self.u.device):
                self._steps(k)
        return self.frames[:k]


PRECISIONS = ("auto", "fp32", "tf32")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` -> ``"tf32"`` on CUDA, ``"fp32"`` elsewhere; checks the value and that TF32 gets a CUDA device."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "tf32" if device.type == "cuda" else "fp32"
    if precision == "tf32" and device.type != "cuda":
        raise ValueError(f"precision='tf32' needs a CUDA device (TF32 is a tensor-core format); device is {device}")
    return precision


@contextlib.contextmanager
def matmul_precision(precision: str, device: torch.device):
    """Run float32 matrix products on ``device`` in ``precision`` (``"fp32"`` or ``"tf32"``), restoring the setting after.

    Only CUDA is touched (``torch.set_float32_matmul_precision``: ``"highest"``
    for fp32, ``"high"`` for TF32); on other devices this does nothing.
    """
    if device.type != "cuda":
        yield
        return
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if precision == "tf32" else "highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def _out_dtype(n_states: int):
    return np.int16 if n_states <= np.iinfo(np.int16).max else np.int32


def generate(model: nn.Module, n_steps: int, **options) -> np.ndarray:
    """Generate ``n_steps`` new frames for each of a batch of trajectories.

    Takes the arguments of :func:`generate_chunks` (the model, ``n_steps``, and ``prompt`` or ``start``, with the
    sampling options documented there) and returns all frames at once.

    Returns
    -------
    numpy.ndarray
        Labels of shape ``(n_traj, n_steps)`` (``int16``, or ``int32`` for more
        than 32767 states). The prompt is not included. For trajectories too
        long to hold in memory use :func:`generate_chunks`, which yields the
        same frames chunk by chunk.
    """
    chunks = generate_chunks(model, n_steps, **options)
    first = next(chunks)
    if first.shape[1] == n_steps:  # one chunk: it is the result
        return first
    out = np.empty((first.shape[0], n_steps), dtype=first.dtype)
    out[:, : first.shape[1]] = first
    done = first.shape[1]
    for c in chunks:
        out[:, done : done + c.shape[1]] = c
        done += c.shape[1]
    return out


def generate_chunks(
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
    fast: bool | str = "auto",
    block: int = 64,
    precision: str = "auto",
    step_transform: StepTransform | None = None,
) -> Iterator[np.ndarray]:
    """Generate ``n_steps`` new frames for each of a batch of trajectories, chunk by chunk: yields
    ``(n_traj, <= chunk_size)`` label arrays, in order.

    Memory stays bounded by one chunk however long the trajectories are, so
    they can be written to disk (or analysed) as they come; concatenated
    along the time axis the chunks are exactly what :func:`generate` returns
    for the same arguments. The arguments are checked when this is called,
    before the first chunk is asked for.

    Parameters
    ----------
    model
        A trained model with ``forward``, ``init_state`` and ``step``
        (see :mod:`mdlstm_utils.lm.models`).
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
    fast, block
        ``True``: step in blocks of ``block`` steps on static buffers, with the
        block's uniform numbers drawn at once; on CUDA each full block is a
        replayed CUDA graph. Only for models with a fixed-size state
        (:class:`~mdlstm_utils.lm.models.LSTMLM`; ``model.graph_safe_step``).
        ``"auto"``: on for such models on CUDA, off otherwise. The fast and the
        plain path sample the same distribution (a test compares them), but
        they consume the random numbers in a different order, so one seed
        gives different trajectories on the two paths (each path is
        repeatable with its seed). The fast path steps with the model's
        ``step_function()`` where it has one (:meth:`LSTMLM.step_function
        <mdlstm_utils.lm.models.LSTMLM.step_function>`: a precomputed input
        projection, fewer kernels per step).
    precision
        Float32 matrix products on a CUDA GPU: ``"fp32"`` (full precision) or
        ``"tf32"`` (tensor-core TF32: a 10-bit mantissa on the inputs, float32
        accumulation; several times faster for large batches). ``"auto"``:
        ``"tf32"`` on CUDA, ``"fp32"`` elsewhere (the CPU has no TF32). On an
        H100, notebook 03's models generated with TF32 met the same kinetics
        targets as on the CPU (the φ-flip MFPTs of the metastable states within
        5 %), unlike bfloat16 training (see :func:`~mdlstm_utils.lm.train.fit`).
    step_transform
        ``None`` (default): sample the model's distribution. Otherwise a callable ``(logits, current) ->
        logits`` (:data:`StepTransform`) applied at every step, on every path, to the model's logits before
        the temperature and the draw; ``current`` is each trajectory's current state. It must be tensor code
        that runs on the device (graph-safe on the fast path); an ``nn.Module`` is moved to the device first.
        :func:`mdlstm_utils.lm.calibrate.generate_calibrated` uses it to set the probability of transitions
        unseen in training.
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
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be an int >= 1, got {block!r}")
    if not isinstance(use_cache, bool):
        raise TypeError(f"use_cache must be True or False, got {type(use_cache).__name__} ({use_cache!r})")
    if step_transform is not None and not callable(step_transform):
        raise TypeError(f"step_transform must be None or a callable (logits, current) -> logits, got "
                        f"{type(step_transform).__name__}")
    graph_safe = bool(getattr(model, "graph_safe_step", False))
    if fast not in (True, False, "auto"):
        raise ValueError(f"fast must be True, False or 'auto', got {fast!r}")
    if fast is True and not (graph_safe and use_cache):
        raise ValueError(
            f"fast=True needs a model with a fixed-size state (graph_safe_step) and use_cache=True; "
            f"{type(model).__name__} has graph_safe_step={graph_safe}"
        )
    window = getattr(model, "receptive_field", None)
    if not use_cache and window is None:
        raise ValueError(
            f"use_cache=False re-encodes a finite window at every step, but {type(model).__name__} "
            "has unbounded memory (no receptive_field); use use_cache=True"
        )
    if window is not None and prompt_arr.shape[1] > window:
        prompt_arr = prompt_arr[:, -window:]  # earlier frames cannot change the next-step distribution
    dev = resolve_device(device)
    precision = resolve_precision(precision, dev)
    if fast == "auto":
        fast = graph_safe and use_cache and dev.type == "cuda"
    if isinstance(step_transform, nn.Module):
        step_transform = step_transform.to(dev)
    return _chunks(model, int(n_steps), prompt_arr, dev, temperature=float(temperature), seed=int(seed),
                   chunk_size=int(chunk_size), progress=progress, use_cache=use_cache, fast=bool(fast), block=int(block),
                   window=window, out_dtype=_out_dtype(n_states), precision=precision, transform=step_transform)


def _chunks(model, n_steps, prompt_arr, dev, *, temperature, seed, chunk_size, progress, use_cache, fast, block, window,
            out_dtype, precision, transform=None) -> Iterator[np.ndarray]:
    model = model.to(dev).eval()
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed)
    n_traj = prompt_arr.shape[0]
    # frames wait on the device in the output's small integer type (4x less to copy than int64)
    buf = torch.empty((min(chunk_size, n_steps), n_traj), dtype=torch.int16 if out_dtype == np.int16 else torch.int32,
                      device=dev)
    with torch.inference_mode():
        p = torch.as_tensor(prompt_arr.astype(np.int64), device=dev)
        if use_cache:
            state = model.init_state(n_traj, dev)
            if p.shape[1] > 1:
                with matmul_precision(precision, dev):
                    _, state = model(p[:, :-1], state)
            tok = p[:, -1]
        else:
            history = p  # the last `window` frames, re-encoded at every step
        stepper = _BlockStepper(model, tok, state, min(block, n_steps), temperature, graph=dev.type == "cuda",
                                precision=precision, transform=transform) if fast else None
        bar = tqdm(total=n_steps, desc="generate", unit="step", disable=not progress, mininterval=0.5)
        done = 0
        while done < n_steps:
            n = min(buf.shape[0], n_steps - done)
            if stepper is not None:
                filled = 0
                while filled < n:
                    k = min(stepper.block, n - filled)
                    buf[filled : filled + k] = stepper.run(k, gen)
                    filled += k
            else:
                with matmul_precision(precision, dev):  # never held across a yield
                    for i in range(n):
                        if use_cache:
                            current = tok
                            logits, state = model.step(tok, state)
                        else:
                            current = history[:, -1]
                            logits = model(history)[0][:, -1]
                        if transform is not None:
                            logits = transform(logits, current)
                        tok = sample_next(logits, temperature, gen)
                        buf[i] = tok
                        if not use_cache:
                            history = torch.cat((history, tok[:, None]), dim=1)[:, -window:]
            # transposed into a new tensor where it is cheap (on the device), then copied to the host; never a
            # view of buf, which the next chunk overwrites (buf already has the output's dtype)
            chunk = buf[:n].T.clone(memory_format=torch.contiguous_format).cpu().numpy()
            done += n
            bar.update(n)
            yield chunk
        bar.close()


# one list of parameters for both: generate takes exactly those of generate_chunks
generate.__signature__ = inspect.signature(generate_chunks).replace(return_annotation=np.ndarray)
