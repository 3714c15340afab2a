"""Training loop for the next-state language models (one loop for every model).

Label trajectories are cut into windows of ``seq_len + 1`` frames; the model
learns to predict frames ``1..seq_len`` of each window from the frames before
them (teacher forcing, cross-entropy). Each epoch starts the windows at a new
random offset, so every transition is seen at every position over time.

Determinism: the window offsets, the shuffling and torch's global generator
(dropout) are all re-seeded at the start of each epoch from ``(seed, epoch)``,
so a run resumed from its checkpoint ends at the same weights as one that was
never interrupted (on the CPU).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from mdlstm_utils.lm.models import TransformerLM, model_from_config
from mdlstm_utils.lm.targets import TARGETS, soft_targets
from mdlstm_utils.lm.windows import make_windows, split_trajectories
from mdlstm_utils.runtime import resolve_device
from mdlstm_utils.states import check_labels

__all__ = ["QUICK_STEPS", "QUICK_BATCH", "FULL_STEPS", "LSTM_LR", "TRANSFORMER_LR", "recipe_lr", "TrainConfig", "TrainResult", "EpochRecord", "fit", "make_windows", "split_trajectories", "save_checkpoint", "load_model"]


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of :func:`fit`: its mean training loss, the validation loss after it (plain cross-entropy, nats per
    frame), its wall time and the optimizer steps it took."""

    epoch: int
    train_loss: float
    val_loss: float
    seconds: float
    batches: int


@dataclass
class TrainResult:
    """What :func:`fit` reports: per-epoch history (:class:`EpochRecord`) and the chosen (best) epoch."""

    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = -1
    best_val_loss: float = math.inf
    stopped_early: bool = False
    train_seconds: float = 0.0
    tokens_per_second: float = 0.0

    @property
    def steps(self) -> int:
        """Optimizer steps taken, over all epochs."""
        return int(sum(h.batches for h in self.history))

    def as_dict(self) -> dict:
        """The JSON form (what a checkpoint stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainResult":
        return cls(**{**d, "history": [EpochRecord(**h) for h in d.get("history", [])]})


def _atomic_save(obj, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(path: str | Path, model: nn.Module, **extra) -> None:
    """Save a model (config + weights) and any extra state atomically (write, then rename)."""
    _atomic_save({"model_config": model.config, "model_state": model.state_dict(), **extra}, Path(path))


def load_model(path: str | Path, device: str | torch.device = "auto") -> nn.Module:
    """Rebuild a model saved by :func:`save_checkpoint` (or by :func:`fit`) and load its weights.

    For a training checkpoint the best weights (lowest validation loss) are loaded.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    ckpt = _read_checkpoint(path, "cpu")
    if not isinstance(ckpt, dict) or "model_config" not in ckpt:
        raise ValueError(f"{path} is not a mdlstm checkpoint (no 'model_config' entry)")
    model = model_from_config(ckpt["model_config"])
    model.load_state_dict(ckpt.get("best_state") or ckpt["model_state"])
    return model.to(resolve_device(device)).eval()


def step_budget(steps: int, epochs: int, n_windows: int, batch_size: int) -> tuple[int, int]:
    """``(batches per epoch, epochs)`` for about ``steps`` optimizer steps over ``n_windows`` training windows."""
    per_epoch = max(1, -(-n_windows // batch_size))
    batches = min(per_epoch, -(-steps // epochs))
    return batches, max(epochs, -(-steps // batches))


#: The budget of optimizer steps per model in the notebooks' ``quick`` profile (windows of 50 frames,
#: :data:`QUICK_BATCH` per batch). ``bench/bench_convergence.py`` (``bench/results/convergence.json``) ranks the
#: budgets: none from 125 to 4000 came within 1.25 times each data set's best error on all four data sets, and
#: 4000 came closest (1.8 times, in the mean); the four-well bins and the toy's microstates still improve up to
#: 4000 steps, the toy's core sets and alanine's metastable states are best at 500-1000. The quick profile also
#: has a time limit (``make run`` within 15 min on 2 cores), which that ranking did not weigh: at 4000 steps a
#: clean-clone ``make run`` took 1385 s. The rule, fixed before the run it changes: the largest budget 4000 / 2^k
#: whose ``make run`` time, predicted from that run's per-notebook training times and its two-worker schedule,
#: is at most 15 min. 2000 steps: 846 s predicted. ``full`` trains :data:`FULL_STEPS`.
QUICK_STEPS = 2000

#: The budget of optimizer steps per model in the notebooks' ``full`` profile: the budget that
#: ``bench/bench_convergence.py`` ranked first (4000 steps, closest to each data set's best error), which the
#: quick profile halves only for its time limit. ``full`` trains the benchmarked recipe as measured: windows of
#: 50 frames, :data:`QUICK_BATCH` per batch, ``TrainConfig``'s rate and half-cosine decay, and the benchmarked
#: model sizes (64 LSTM units, Transformer width 64); a larger model at the same rate and budget was not
#: measured. What ``full`` adds to ``quick`` is data (a lower noise floor), seeds (3 wherever a verdict is
#: judged) and the budget, so that each notebook's full profile runs in at most 40 min on 2 CPU cores.
FULL_STEPS = 4000

#: The recipe's learning rate for an LSTM, chosen by ``bench/bench_convergence.py`` (see :class:`TrainConfig`).
LSTM_LR = 2e-3

#: The recipe's learning rate for a Transformer, chosen by ``bench/bench_transformer_lr.py``
#: (``bench/results/transformer_lr.json``) with a rule fixed before its runs: on notebook 06's two quick data
#: sets, 3 seeds, at the recipe's budget, the rate with the lowest mean log(slow-process error / MSM
#: baseline's error), if it beats the LSTM's rate by more than 0.1. Scores: 2.51 at 6e-4, 2.37 at 2e-3, 1.94
#: at 6e-3 (mean errors 2.09 / 1.67 / 0.99 on the four-well bins, 0.95 / 0.89 / 0.64 on the toy's
#: microstates, MSM baseline 0.10 and 0.14). 6e-3 is the largest rate measured, so a larger one may be
#: better still; the Transformer stays far above the MSM at every rate.
TRANSFORMER_LR = 6e-3


def recipe_lr(model: nn.Module) -> float:
    """The recipe's learning rate for ``model``: :data:`TRANSFORMER_LR` for a Transformer, else :data:`LSTM_LR`."""
    return TRANSFORMER_LR if isinstance(model, TransformerLM) else LSTM_LR


#: Windows (of 50 frames) per batch in the notebooks' ``quick`` profile, chosen with the recipe by the same
#: benchmark: at 4000 steps, 64 windows a batch had a mean log(slow-process error / MSM baseline's)
#: of 0.67 against 0.77 for 32 (the rule asks for an improvement above 0.1; this one is 0.105), at twice the
#: training time.
QUICK_BATCH = 64


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained. The defaults are the suite's recipe: AdamW at ``lr`` with a half-cosine decay
    to 0, no warm-up and no early stopping, so that the decay runs to the end (see :func:`fit` for why).

    The recipe was chosen by ``bench/bench_convergence.py`` (``bench/results/convergence.json``) with a rule
    fixed before its runs, on four data sets (01's four-well bins, 04's toy microstates and core sets, 03's
    metastable alanine states; 3 seeds, budgets 125-4000 steps of 32 windows of 50 frames): ``lr = 2e-3``
    had the lowest mean of log(slow-process error / MSM baseline's error) over the data sets and the budgets
    of 1000 steps or more (0.88, against 0.90 at 6e-3 and 1.14 at 2e-2); at that rate and
    4000 steps, a 5 % warm-up (0.78) and a constant rate after it (1.14) did not beat the half
    cosine (0.77); 64 windows a batch instead of 32 did (0.67, :data:`QUICK_BATCH`). No rate is best everywhere: 6e-3 and 2e-2 learn the four-well bins and the microstates in
    fewer steps, 2e-3 is steadier on the two-state partitions, which larger rates overshoot.

    ``lr=None`` (the default) is the recipe's rate for the model being trained (:func:`recipe_lr`): 2e-3
    (:data:`LSTM_LR`) for an LSTM, 6e-3 (:data:`TRANSFORMER_LR`, chosen for the Transformer by its own benchmark)
    for a Transformer; :func:`fit` resolves it. A number overrides it for every model.

    ``steps`` is a budget of optimizer steps that does not depend on how much data there is (a rare
    transition needs steps more than tokens); ``None`` trains ``epochs`` full passes over the windows.
    :meth:`replace` returns a copy with some fields changed.
    """

    seq_len: int = 100
    batch_size: int = 64
    epochs: int = 10
    steps: int | None = None
    lr: float | None = None
    lr_schedule: str = "cosine"
    weight_decay: float = 0.0
    val_fraction: float = 0.1
    patience: int | None = None
    min_delta: float = 1e-4
    grad_clip: float = 1.0
    max_batches_per_epoch: int | None = None
    amp: str | bool = "auto"
    deterministic: bool = False
    change_weight: float = 1.0
    warmup: float = 0.0
    target: str = "none"
    target_strength: float | None = None

    def __post_init__(self):
        checked = [("seq_len", self.seq_len), ("batch_size", self.batch_size), ("epochs", self.epochs)]
        checked += [(n, v) for n, v in (("patience", self.patience), ("steps", self.steps)) if v is not None]
        for name, value in checked:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if self.amp not in ("auto", True, False):
            raise ValueError(f"amp must be 'auto', True or False, got {self.amp!r}")
        if self.lr is not None and (isinstance(self.lr, bool) or not isinstance(self.lr, (int, float))
                                    or not 0 < self.lr < 1):
            raise ValueError(f"lr must be a number in (0, 1) or None (the recipe's rate for the model), got {self.lr!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, (int, float)) or not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be a fraction of training in [0, 1), got {self.warmup!r}")
        if isinstance(self.change_weight, bool) or not isinstance(self.change_weight, (int, float)) \
                or not 0 < self.change_weight <= 1000:
            raise ValueError(f"change_weight must be a number in (0, 1000], got {self.change_weight!r}")
        if self.target not in TARGETS:
            raise ValueError(f"target={self.target!r}; choose one of {TARGETS}")
        if self.target_strength is not None and (self.target != "msm" or isinstance(self.target_strength, bool)
                                                 or not isinstance(self.target_strength, (int, float))
                                                 or not 0 < self.target_strength <= 1):
            raise ValueError(f"target_strength is the MSM pull's weight, in (0, 1] with target='msm' (None: chosen "
                             f"on validation loss by learn_and_compare); got {self.target_strength!r} with "
                             f"target={self.target!r}")
        if self.target != "none" and self.change_weight != 1.0:
            raise ValueError("change_weight and a soft target are two different losses; set one of them")

    def replace(self, **changes) -> "TrainConfig":
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown training setting(s) {sorted(unknown)}; TrainConfig has {sorted(self.__dataclass_fields__)}")
        return dataclasses.replace(self, **changes)

    def lr_at(self, epoch: int, i: int, n_batches: int, epochs: int) -> float:
        """The learning rate of batch ``i`` of ``n_batches`` in ``epoch`` (0-based) of ``epochs``: a linear
        warm-up over the first ``warmup`` of training, then ``lr`` (constant) or a half cosine down to 0."""
        if self.lr is None:
            raise ValueError("lr is None (the recipe's rate for the model): fit() resolves it with recipe_lr(model)")
        frac = (epoch + i / n_batches) / epochs
        if frac < self.warmup:
            return self.lr * (frac + 1.0 / (n_batches * epochs)) / self.warmup
        if self.lr_schedule == "constant":
            return self.lr
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * (frac - self.warmup) / (1.0 - self.warmup)))


def _batch_loss(model: nn.Module, batch: torch.Tensor, amp_dtype, change_weight: float = 1.0,
                targets=None) -> torch.Tensor:
    """Mean cross-entropy of the next state; with ``change_weight != 1`` the frames where the state changes
    weigh ``change_weight`` times more than those where it stays (a weighted mean); with ``targets`` (tables of
    :class:`~mdlstm_utils.lm.targets.SoftTargets` on the device) the soft-target loss."""
    x, y = batch[:, :-1], batch[:, 1:]
    with torch.autocast(device_type=batch.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        logits, _ = model(x)
    if targets is not None:
        return targets.loss(logits.reshape(-1, logits.shape[-1]), x.reshape(-1), y.reshape(-1))
    if change_weight == 1.0:
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
    ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
    w = 1.0 + (change_weight - 1.0) * (y != x).reshape(-1).float()
    return (ce * w).sum() / w.sum()


def _evaluate(model: nn.Module, windows: np.ndarray, batch_size: int, device, amp_dtype) -> float:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(windows), batch_size):
            b = torch.as_tensor(windows[i : i + batch_size], device=device)
            loss = _batch_loss(model, b, amp_dtype)
            n = b.shape[0] * (b.shape[1] - 1)
            total += float(loss) * n
            count += n
    return total / max(count, 1)


@dataclass
class _Plan:
    """The data and the schedule of one training run, checked before the first step."""

    train: list
    val_windows: np.ndarray
    epochs: int
    max_batches: int | None


def _plan(model: nn.Module, train, val, cfg: TrainConfig) -> _Plan:
    n_states = model.config["n_states"]
    train_trajs = check_labels(train, n_states, name="train")
    if val is None:
        train_trajs, val_trajs = split_trajectories(train_trajs, cfg.val_fraction)
    else:
        val_trajs = check_labels(val, n_states, name="val")
    longest = max(len(t) for t in train_trajs)
    if longest < cfg.seq_len + 1:
        raise ValueError(
            f"seq_len={cfg.seq_len} needs trajectories of at least {cfg.seq_len + 1} frames, "
            f"but the longest training trajectory has {longest}"
        )
    val_windows = make_windows(val_trajs, cfg.seq_len)
    if len(val_windows) == 0:
        raise ValueError(
            f"no validation window of {cfg.seq_len + 1} frames fits the validation data "
            f"(longest {max(len(t) for t in val_trajs)} frames): lower seq_len or give longer/more val data"
        )
    epochs, max_batches = cfg.epochs, cfg.max_batches_per_epoch
    if cfg.steps is not None:
        n_windows = sum(len(t) // (cfg.seq_len + 1) for t in train_trajs)  # what make_windows cuts at offset 0
        max_batches, epochs = step_budget(int(cfg.steps), cfg.epochs, n_windows, cfg.batch_size)
    return _Plan(train_trajs, val_windows, epochs, max_batches)


@dataclass
class _State:
    """What a checkpoint holds besides the weights, so that a resumed run continues exactly."""

    result: TrainResult = field(default_factory=TrainResult)
    best_state: dict | None = None
    start_epoch: int = 0
    bad_epochs: int = 0
    stall_ref: float = math.inf  # the validation loss later epochs must beat by min_delta to reset the patience
    finished: bool = False


def _read_checkpoint(path: Path, map_location) -> dict:
    """A checkpoint's contents, read with ``weights_only=True``: tensors and plain data only, so that loading a
    file never runs code from it (a mdlstm checkpoint holds nothing else: the model's config is a dict)."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several kinds for a file that is not a checkpoint
        raise ValueError(f"{path} is not a mdlstm checkpoint, or holds more than tensors and plain data "
                         f"(torch.load with weights_only=True failed: {exc}). A checkpoint from a trusted source can "
                         "be converted once with torch.load(path, weights_only=False) and save_checkpoint.") from exc


def _load_checkpoint(path: Path, model: nn.Module, opt, dev) -> _State:
    ckpt = _read_checkpoint(path, dev)
    if ckpt.get("model_config") != model.config:
        raise ValueError(f"checkpoint {path} was written for model {ckpt.get('model_config')}, not {model.config}")
    model.load_state_dict(ckpt["model_state"])
    opt.load_state_dict(ckpt["optimizer_state"])
    result = TrainResult.from_dict(ckpt["result"])
    return _State(result, ckpt["best_state"], ckpt["epoch"] + 1, ckpt["bad_epochs"],
                  ckpt.get("stall_ref", result.best_val_loss), bool(ckpt.get("finished")))


def _epoch_windows(trajs: list, seq_len: int, seed: int, epoch: int) -> np.ndarray:
    """The epoch's training windows: a random start offset and order, both from ``(seed, epoch)``."""
    rng = np.random.default_rng([int(seed), epoch])
    torch.manual_seed(int(seed) * 100003 + epoch)
    offset = int(rng.integers(0, seq_len + 1))
    windows = make_windows(trajs, seq_len, offset)
    if len(windows) == 0:
        windows = make_windows(trajs, seq_len, 0)
    return windows[rng.permutation(len(windows))]


def _train_epoch(model, opt, windows, n_batches, epoch, epochs, cfg: TrainConfig, dev, amp_dtype, progress,
                 targets=None) -> tuple[float, int]:
    """One pass over ``n_batches`` batches; returns the mean training loss and the windows seen."""
    model.train()
    running, seen = 0.0, 0
    bar = tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
    for i in bar:
        if cfg.lr_schedule == "cosine" or cfg.warmup:
            for group in opt.param_groups:
                group["lr"] = cfg.lr_at(epoch, i, n_batches, epochs)
        b = torch.as_tensor(windows[i * cfg.batch_size : (i + 1) * cfg.batch_size], device=dev)
        loss = _batch_loss(model, b, amp_dtype, cfg.change_weight, targets)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {float(loss)} at epoch {epoch + 1}; lower lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        running += loss.item() * b.shape[0]
        seen += b.shape[0]
        if i % 20 == 0:
            bar.set_postfix(loss=f"{running / seen:.4f}")
    bar.close()
    return running / max(seen, 1), seen


def _record_epoch(st: _State, model, epoch: int, train_loss: float, val_loss: float, seconds: float,
                  n_batches: int, epochs: int, cfg: TrainConfig) -> None:
    """Keep the best weights, count epochs without improvement, decide whether training is finished."""
    st.result.history.append(EpochRecord(epoch + 1, train_loss, val_loss, seconds, n_batches))
    if val_loss < st.result.best_val_loss:  # the weights kept are those of the lowest validation loss
        st.result.best_val_loss = val_loss
        st.result.best_epoch = epoch + 1
        st.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if val_loss < st.stall_ref - cfg.min_delta:  # min_delta only decides when to stop
        st.stall_ref = val_loss
        st.bad_epochs = 0
    else:
        st.bad_epochs += 1
    patience = math.inf if cfg.patience is None else cfg.patience
    st.finished = st.bad_epochs >= patience or epoch + 1 == epochs
    st.result.stopped_early = st.bad_epochs >= patience and epoch + 1 < epochs
    st.result.train_seconds += seconds


def fit(
    model: nn.Module,
    train,
    val=None,
    config: TrainConfig | None = None,
    *,
    device: str | torch.device = "auto",
    seed: int = 0,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    **settings,
) -> TrainResult:
    """Train a next-state model on label trajectories; the model ends with its best weights.

    Parameters
    ----------
    model
        A model from :mod:`mdlstm_utils.lm.models` (its weights are trained in place).
    train
        Label trajectories (1-D array, 2-D array of trajectories, or a list).
    val
        Validation trajectories; if ``None`` the last ``val_fraction`` of each
        training trajectory is held out.
    config, settings
        A :class:`TrainConfig` (default: the recipe), with any of its fields
        overridden by keyword (``fit(model, labels, steps=1000)``). The fields:
    seq_len, batch_size
        Window length (frames predicted per window) and windows per batch.
    epochs, lr, weight_decay, grad_clip
        AdamW optimisation settings (``lr=None``: the recipe's rate for ``model``, :func:`recipe_lr`).
    warmup
        Fraction of training over which the learning rate rises linearly from
        near 0 to ``lr`` before the schedule starts (``0``: none).
    lr_schedule
        ``"constant"``: ``lr`` throughout. ``"cosine"``: ``lr`` decays along a
        half cosine to 0 over the ``epochs`` (updated every batch), so the
        last epochs take small steps and the weights settle instead of
        jittering with the optimiser's noise. Rare transitions need that:
        their probabilities barely move the loss (a 30 % error in an exit
        rate of 1/100 frames costs about 3e-4 nats per frame spent in that
        state), so the jitter of a constant learning rate hides them and
        early stopping cannot see them. Use it with ``patience=None``
        so that the decay runs to the end.
    patience, min_delta
        Early stopping: stop after ``patience`` epochs without a validation-loss
        improvement larger than ``min_delta`` (``patience=None``: never stop
        early, the choice with the cosine schedule). The weights of the epoch with
        the lowest validation loss are restored, however small its lead
        (``min_delta`` only decides when to stop).
    max_batches_per_epoch
        Cap on batches per epoch (for quick smoke runs); ``None`` for all.
    steps
        Budget of optimizer steps that does not depend on how much data there
        is: each epoch is cut to ``ceil(steps / epochs)`` batches, and when the
        data hold fewer batches than that, the number of epochs grows until
        about ``steps`` steps are taken (``epochs`` is then the least number of
        validation points). What a rare transition needs is steps: on the
        hidden-slow toy's two cored states, 1600 steps of 16 windows learned
        the MFPTs within 8 % where 400 steps of 64 windows (more tokens) were
        77 % off. Overrides ``max_batches_per_epoch``.
    device, amp
        ``"auto"`` device. ``amp=True`` trains in bfloat16 autocast (mixed
        precision); ``"auto"`` and ``False`` train in float32, on the GPU too.
        Why not bfloat16 by default: rare transitions live in small
        probabilities that bfloat16's 8-bit mantissa cannot resolve. Measured
        on an H100 (notebook 03, full profile): in bfloat16 the LSTM on the
        two metastable states of alanine dipeptide stopped improving after 4
        of 40 epochs and its φ-flip MFPTs came out 53-69 % off; in float32 it
        trained to epoch 36 and met every target (MFPTs within 5 %), as on the
        CPU. Keeping only the output layer in float32 did not help. bfloat16
        trained the LSTM 14 % faster there (``bench/bench_train.py``).
    seed
        Seeds window offsets, shuffling and dropout.
    change_weight
        Weight of the frames where the state changes in the training loss,
        relative to frames where it stays (``1``: plain cross-entropy; the
        validation loss stays the plain cross-entropy, comparable between
        runs). Tried as a remedy for the rare transitions that the loss barely
        sees, it does not help: at 5, with the recipe and 3 seeds
        (``bench/bench_convergence.py``), the slow-process error rose from
        0.68 to 0.82 on the toy's microstates and from 0.29 to 0.90 on its core
        sets, because every state change, fast hops included, gets the weight.
        Kept so that notebook 05 can show it.
    target, target_strength
        A soft training target (:mod:`mdlstm_utils.lm.targets`): ``"none"`` (the plain cross-entropy),
        ``"msm"`` (each frame's target mixed with the row of the lag-1 MSM of the training frames at weight
        ``target_strength``) or ``"good-turing"`` (the model trained to keep each state's Good-Turing share of
        unseen jumps). The validation loss stays the plain cross-entropy.
    checkpoint, resume
        Path where a checkpoint is written (atomically) after every epoch;
        with ``resume=True`` training continues from it when it exists.
    deterministic
        Within one process the same seed always gives the same weights; across
        processes CPU kernels may differ in the last bits, which grow over
        epochs (measured here: 1 of 3 separate runs differed by 2e-3 after 6
        epochs with oneDNN's LSTM kernels, 0 of 5 without them).
        ``True`` turns oneDNN off and asks cuDNN for deterministic kernels while
        training, at about 2-3x the training time of an LSTM on the CPU; it does
        not make every kernel bitwise reproducible across processes.
    progress
        Show a tqdm progress bar per epoch.

    Returns
    -------
    TrainResult
    """
    cfg = (config or TrainConfig()).replace(**settings)
    if cfg.lr is None:
        cfg = cfg.replace(lr=recipe_lr(model))
    plan = _plan(model, train, val, cfg)
    dev = resolve_device(device)
    targets = soft_targets(plan.train, model.config["n_states"], cfg.target, cfg.target_strength)
    targets = targets.to(dev) if targets is not None else None
    amp_dtype = torch.bfloat16 if cfg.amp is True else None
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    st = _State()
    if resume and ckpt_path is not None and ckpt_path.is_file():
        st = _load_checkpoint(ckpt_path, model, opt, dev)
        if st.finished:
            model.load_state_dict(st.best_state)
            return st.result
    t_start = time.perf_counter()
    tokens_done = 0
    with _determinism(cfg.deterministic):
        for epoch in range(st.start_epoch, plan.epochs):
            windows = _epoch_windows(plan.train, cfg.seq_len, seed, epoch)
            n_batches = math.ceil(len(windows) / cfg.batch_size)
            if plan.max_batches is not None:
                n_batches = min(n_batches, int(plan.max_batches))
            t0 = time.perf_counter()
            train_loss, seen = _train_epoch(model, opt, windows, n_batches, epoch, plan.epochs, cfg, dev, amp_dtype,
                                            progress, targets)
            tokens_done += seen * cfg.seq_len
            val_loss = _evaluate(model, plan.val_windows, max(cfg.batch_size, 256), dev, amp_dtype)
            seconds = time.perf_counter() - t0
            _record_epoch(st, model, epoch, train_loss, val_loss, seconds, n_batches, plan.epochs, cfg)
            if progress:
                tqdm.write(f"epoch {epoch + 1}: train {train_loss:.4f}  val {val_loss:.4f}  ({seconds:.1f} s)")
            if ckpt_path is not None:
                save_checkpoint(ckpt_path, model, optimizer_state=opt.state_dict(), epoch=epoch, bad_epochs=st.bad_epochs,
                                stall_ref=st.stall_ref, best_state=st.best_state, result=st.result.as_dict(),
                                finished=st.finished)
            if st.finished:
                break
    wall = time.perf_counter() - t_start
    st.result.tokens_per_second = tokens_done / wall if wall > 0 else 0.0
    if st.best_state is not None:
        model.load_state_dict(st.best_state)
    model.eval()
    return st.result


@contextlib.contextmanager
def _determinism(enabled: bool):
    if not enabled:
        yield
        return
    with torch.backends.mkldnn.flags(enabled=False), torch.backends.cudnn.flags(
        enabled=torch.backends.cudnn.enabled, benchmark=False, deterministic=True
    ):
        yield
