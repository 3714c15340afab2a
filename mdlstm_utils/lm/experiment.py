"""One learning experiment: train a language model on label trajectories, generate new ones, compare the kinetics.

This is the loop every notebook runs once per partition, model or seed::

    state space --split by seed--> training part --fit--> model --generate--> trajectories
                                   test part (the reference) <--kinetics.comparison / slow_process-- trajectories
                 (and, fitted on the training part: the lag-1 MSM, sampled alike, and the validated MSM)

:func:`learn_and_compare` does it in one call with the suite's recipe
(:class:`~mdlstm_utils.lm.train.TrainConfig`, the models of
:class:`~mdlstm_utils.lm.models.LSTMConfig` / ``TransformerConfig``), so a
sweep point, a notebook cell and a user's own script all run exactly the same
experiment; :func:`learn_spaces` runs it on several partitions. Give
``truth_mfpt`` when the true slow kinetics are known (toy systems, or a better
reference) to also measure how far the reference partition and the generated
trajectories are from it.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass, replace

import numpy as np
from torch import nn
from tqdm.auto import tqdm

from mdlstm_utils.lm.anchor import choose_on_validation, generate_anchored
from mdlstm_utils.lm.calibrate import generate_calibrated
from mdlstm_utils.lm.generate import generate
from mdlstm_utils.lm.unseen import UnseenTransitions, unseen_diagnostic
from mdlstm_utils.kinetics import (Comparison, NoiseFloor, SlowProcess, ValidatedMSM, comparison, msm_trajectories,
                                   noise_floor, relative_error, slow_process, validated_msm)
from mdlstm_utils.kinetics.markov import fit_markov
from mdlstm_utils.kinetics.slow import n_slow_processes
from mdlstm_utils.lm.models import LSTMConfig, TransformerConfig, count_parameters
from mdlstm_utils.lm.targets import PULL_GRID
from mdlstm_utils.runtime import fmt as runtime_fmt, resolve_device, seed_everything
from mdlstm_utils.states import StateSpace, Split, check_labels, kfold_splits, train_test_split
from mdlstm_utils.lm.train import TrainConfig, TrainResult, fit, make_windows, split_trajectories

__all__ = ["MODELS", "build_model", "LearningRecord", "learning_record", "LearnResult", "GenerateConfig", "BaselineConfig",
           "learn_and_compare", "learn_spaces", "FoldResult", "learn_folds"]

MODELS = ("lstm", "transformer")


def build_model(kind, n_states: int, *, hidden: int = LSTMConfig.hidden_dim, d_model: int = TransformerConfig.d_model,
                context: int = TransformerConfig.context) -> nn.Module:
    """The suite's LSTM or Transformer for ``n_states`` tokens.

    ``kind`` is an :class:`~mdlstm_utils.lm.models.LSTMConfig` or
    :class:`~mdlstm_utils.lm.models.TransformerConfig` (built as it is), or the
    name ``"lstm"`` / ``"transformer"``: the config's defaults with
    ``hidden_dim=hidden`` or ``d_model=d_model, context=context``.
    """
    if isinstance(kind, (LSTMConfig, TransformerConfig)):
        return kind.build(n_states)
    if not isinstance(kind, str) or kind.lower() not in MODELS:
        raise ValueError(f"model={kind!r}; expected one of {MODELS}, an LSTMConfig or a TransformerConfig")
    if kind.lower() == "lstm":
        return LSTMConfig(hidden_dim=hidden).build(n_states)
    return TransformerConfig(d_model=d_model, context=context).build(n_states)


@dataclass
class LearningRecord:
    """How a model learned: its learning curve, and its validation loss beside a lag-1 MSM's on the same frames.

    ``loss_gap = val_loss - msm_val_loss`` (nats per predicted frame): negative where the model predicts the
    held-out next states better than a first-order Markov model counted from the same training frames. The
    gap says nothing about the slow kinetics by itself: rare transitions weigh little in the loss, so a model
    can beat the MSM on it and still get the slow process wrong (compare with the slow-process error).
    """

    steps: np.ndarray  # optimizer steps at the end of each epoch
    train_loss: np.ndarray  # mean training loss of each epoch
    val_loss_curve: np.ndarray  # validation loss after each epoch
    val_loss: float  # the kept (best) weights' validation loss
    msm_val_loss: float  # a lag-1 MSM (first-order chain counted on the training frames) on the same held-out windows

    @property
    def loss_gap(self) -> float:
        return float(self.val_loss - self.msm_val_loss)

    def to_dict(self) -> dict:
        return {"steps": self.steps.tolist(), "train_loss": self.train_loss.tolist(),
                "val_loss_curve": self.val_loss_curve.tolist(), "val_loss": self.val_loss,
                "msm_val_loss": self.msm_val_loss, "loss_gap": self.loss_gap}


def _fit_split(train_data, val_data, cfg: TrainConfig) -> tuple[list, list]:
    """The frames :func:`~mdlstm_utils.lm.train.fit` trains and validates on: ``val_data`` when given, else the last
    ``cfg.val_fraction`` of each training trajectory."""
    if val_data is not None:
        return list(train_data), list(val_data)
    return split_trajectories(list(train_data), cfg.val_fraction)


def learning_record(tr: TrainResult, train_data, val_data, n_states: int, cfg: TrainConfig, *,
                    msm=None) -> LearningRecord:
    """The :class:`LearningRecord` of a :func:`~mdlstm_utils.lm.train.fit` run on ``train_data`` (validated on
    ``val_data``, or on the last ``cfg.val_fraction`` of each training trajectory as ``fit`` does); ``msm``: the
    first-order :class:`~mdlstm_utils.kinetics.markov.MarkovChain` of the training frames when already counted."""
    fit_part, held = _fit_split(train_data, val_data, cfg)
    msm = fit_markov(fit_part, n_states, 1) if msm is None else msm
    windows = make_windows(held, cfg.seq_len)
    steps = np.cumsum([h.batches for h in tr.history])
    return LearningRecord(steps, np.array([h.train_loss for h in tr.history]),
                          np.array([h.val_loss for h in tr.history]), float(tr.best_val_loss),
                          msm.log_loss(windows))


@dataclass
class LearnResult:
    """What :func:`learn_and_compare` returns.

    Attributes
    ----------
    metrics
        JSON-ready dict: the comparison's ``to_dict()`` plus the training and generation record
        (``mfpt_max_rel_err``, ``msm_mfpt_max_rel_err``, ``noise_floor_mfpt_err``, ``val_loss``, ...).
    model
        The trained model (its best epoch).
    generated
        The generated labels: ``(n_gen, gen_frames)``, or one array per reference trajectory.
    train
        The training record (:class:`~mdlstm_utils.lm.train.TrainResult`: history, best validation loss).
    comparison
        Generated vs reference, typed (:class:`~mdlstm_utils.kinetics.Comparison`: populations, MFPTs with
        95 % intervals, ``mfpt_max_rel_err``).
    baseline
        The MSM baseline's trajectories, frames ``msm_lag`` reference frames apart (None without the baseline).
    baseline_comparison
        The MSM baseline vs the reference, typed like ``comparison`` (None without the baseline).
    noise_floor
        The errors a model that reproduced the reference dynamics exactly would show on this much data
        (:class:`~mdlstm_utils.kinetics.NoiseFloor`; None without sets).
    learning
        The learning curve and validation loss beside a lag-1 MSM's (:class:`LearningRecord`).
    split
        The evaluation protocol's split (:class:`~mdlstm_utils.states.Split`): what the model and the baselines
        were fitted on (``split.train``) and what the reference is (``split.test``).
    validated
        The validated MSM of the training part (:class:`~mdlstm_utils.kinetics.ValidatedMSM`): its lag, whether
        its implied timescales and CK test accept it, its timescales and MFPTs with Bayesian intervals.
    slow
        The slowest implied timescales of the reference, the generated trajectories and both MSM baselines at the
        validated MSM's lag (:class:`~mdlstm_utils.kinetics.SlowProcess`), with the exact ones where given.
    unseen
        How much probability the model puts on transitions never seen in training, teacher-forced on the test
        part, beside the rate the test part makes them at, the Good–Turing estimate from the training counts,
        and the rates of unseen jumps and one-frame crossings of the slowest process in the generated, MSM and
        test trajectories (:class:`~mdlstm_utils.lm.unseen.UnseenTransitions`).
    """

    metrics: dict  # the comparison's to_dict() plus the training/generation record (JSON-ready)
    model: nn.Module  # the trained model (best epoch)
    generated: np.ndarray | list  # generated labels: (n_gen, gen_frames), or one array per reference trajectory
    train: TrainResult
    comparison: Comparison | None = None  # generated vs reference, typed
    baseline: np.ndarray | None = None  # MSM baseline trajectories (frames baseline_lag reference frames apart)
    baseline_comparison: Comparison | None = None
    noise_floor: NoiseFloor | None = None  # the errors of a model that reproduced the reference dynamics exactly
    learning: LearningRecord | None = None  # learning curve and validation loss beside a lag-1 MSM's
    split: Split | None = None  # training part (model and baselines fitted on it) and test part (the reference)
    validated: ValidatedMSM | None = None  # the MSM at a lag its implied timescales and CK test accept
    slow: SlowProcess | None = None  # slowest implied timescales of every model at the validated lag
    unseen: UnseenTransitions | None = None  # probability on transitions unseen in training, against the data


def _reference(labels, n_states, sets, set_names, dt):
    """The reference of :func:`learn_and_compare` as ``(trajs, n_states, sets, set_names, dt, unit)``, checked."""
    unit = ""
    if isinstance(labels, StateSpace):
        space = labels
        n_states = space.n_states if n_states is None else n_states
        if sets is None and space.sets is not None:
            sets, set_names = list(space.sets), list(space.set_names) if set_names is None else set_names
        dt = space.dt if dt is None else dt
        unit = space.dt_unit
        labels = list(space.trajs)
    if n_states is None:
        raise ValueError("n_states is required unless labels is a StateSpace")
    if isinstance(labels, np.ndarray) and labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D array (n_traj, n_frames) or a list of trajectories, got shape {labels.shape}")
    trajs = check_labels(labels, n_states)
    counts = sum(np.bincount(t, minlength=n_states) for t in trajs)
    used = np.flatnonzero(counts)
    gaps = np.flatnonzero(counts[used.min(): used.max() + 1] == 0) + used.min()
    if gaps.size:  # e.g. states {0, 5, 9}: tokens between the data's labels that the data never visit
        warnings.warn(f"{gaps.size} states between the smallest and the largest label never occur (e.g. "
                      f"{gaps[:5].tolist()}); the model will still learn to emit them with a small probability. "
                      "Renumber the labels without gaps (states.from_labels does).", stacklevel=3)
    return trajs, n_states, sets, set_names, 1.0 if dt is None else dt, unit


#: The generation remedies of :class:`GenerateConfig` (``"none"``: the model as trained).
REMEDIES = ("none", "calibrated", "temperature", "mixture")


@dataclass(frozen=True)
class GenerateConfig:
    """How :func:`learn_and_compare` generates: ``n_gen`` trajectories of ``gen_frames`` frames, each continuing a
    prompt.

    The defaults make the generated data like the reference: as many trajectories, each as long as its
    reference trajectory (trajectories of different lengths give a list) and prompted with that trajectory's
    first ``prompt_len`` frames (cycling through them when ``n_gen`` is larger), so that both are measured on
    the same number and length of trajectories. ``prompt``: explicit prompts, an int array ``(n_gen, k)`` (for
    example random windows of the reference): trajectory ``i`` continues ``prompt[i]``; it replaces
    ``prompt_len`` and ``n_gen`` and needs ``gen_frames``.

    ``remedy``: a correction of the trained model's next-state distribution at generation time, the same
    weights (:data:`REMEDIES`): ``"none"`` (the model as trained), ``"calibrated"`` (each state's unseen mass set
    to its Good-Turing estimate from the training counts, :mod:`~mdlstm_utils.lm.calibrate`), ``"temperature"``
    or ``"mixture"`` (the softmax temperature, or the MSM weight of the MSM-anchored mixture, with the smallest
    loss on the validation frames, :mod:`~mdlstm_utils.lm.anchor`). ``bench/bench_remedies.py`` measures them.
    """

    n_gen: int | None = None
    gen_frames: int | None = None
    prompt_len: int = 100
    prompt: np.ndarray | None = None
    remedy: str = "none"

    def __post_init__(self):
        if self.remedy not in REMEDIES:
            raise ValueError(f"remedy={self.remedy!r}; choose one of {REMEDIES}")


@dataclass(frozen=True)
class BaselineConfig:
    """What a language model is judged against besides the reference (:func:`learn_and_compare`).

    ``msm``: also sample a Markov state model of the training labels at a lag of ``msm_lag`` frames, as many
    trajectories covering as much time as the generated ones from the same start states, and compare it the
    same way: what the language model must match or beat to be worth using (adds ``msm_mfpt_gen``,
    ``msm_mfpt_gen_low`` / ``_high``, ``msm_mfpt_max_rel_err``, ``msm_set_pop_max_abs_err`` and, with
    ``truth_mfpt``, ``msm_vs_truth_err`` to the metrics). ``noise_pairs``: with sets, the noise floor
    (:func:`~mdlstm_utils.kinetics.noise_floor`) from that many pairs of bootstrap replicates of the
    reference, one as large as the reference and one as large as the generated data: the error a perfect
    model would show (adds ``noise_floor_mfpt_err``, the median, ``noise_floor_mfpt_err_high``, the 95 %
    quantile, and the same for set populations); ``0`` skips it. ``validated_msm``: also the MSM of the training
    labels at the lag its implied timescales and a CK test accept, its kinetics from the model itself
    (:func:`~mdlstm_utils.kinetics.validated_msm`; adds ``validated_msm`` and the slowest implied timescales of
    every model at its lag, ``slow_process``, to the metrics), with ``its_samples`` Bayesian samples for the
    intervals.
    """

    msm: bool = True
    msm_lag: int = 1
    noise_pairs: int = 20
    validated_msm: bool = True
    its_samples: int = 100

    def __post_init__(self):
        for name in ("msm", "validated_msm"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name, low in (("msm_lag", 1), ("noise_pairs", 0), ("its_samples", 2)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")


#: settings of :func:`learn_and_compare` under another name: ``{synonym: (config, field)}``
_SYNONYMS = {"train_steps": ("train", "steps"), "baseline": ("baselines", "msm"), "baseline_lag": ("baselines", "msm_lag")}
_SIZES = ("hidden", "d_model")


def _settings(train, generation, baselines, settings: dict):
    """Split ``learn_and_compare``'s keyword settings among its three configs and the model sizes."""
    configs = {"train": train or TrainConfig(), "generation": generation or GenerateConfig(),
               "baselines": baselines or BaselineConfig()}
    fields = {k: {f.name for f in dataclasses.fields(c)} for k, c in configs.items()}
    changes = {k: {} for k in configs}
    sizes = {}
    for key, value in settings.items():
        if key in _SIZES:
            sizes[key] = value
            continue
        where, name = _SYNONYMS.get(key, (None, key))
        where = where or next((k for k, f in fields.items() if name in f), None)
        if where is None:
            known = sorted(set().union(*fields.values(), _SYNONYMS, _SIZES))
            raise TypeError(f"learn_and_compare got an unknown setting {key!r}; settings are fields of TrainConfig, "
                            f"GenerateConfig or BaselineConfig, or a model size: {', '.join(known)}")
        changes[where][name] = value
    cfg = configs["train"].replace(**changes["train"])
    if cfg.patience is None and cfg.lr_schedule != "cosine":
        cfg = cfg.replace(patience=3)
    gen = replace(configs["generation"], **changes["generation"])
    base = replace(configs["baselines"], **changes["baselines"])
    return cfg, gen, base, sizes


def learn_and_compare(
    labels,
    n_states: int | None = None,
    sets=None,
    *,
    model="lstm",
    train: TrainConfig | None = None,
    generation: GenerateConfig | None = None,
    baselines: BaselineConfig | None = None,
    dt: float | None = None,
    set_names: list[str] | None = None,
    truth_mfpt=None,
    truth_its=None,
    n_train: int | None = None,
    test_fraction: float = 0.5,
    train_labels=None,
    val_labels=None,
    split: Split | None = None,
    seed: int = 0,
    device="auto",
    progress: bool = False,
    **settings,
) -> LearnResult:
    """Split ``labels`` into training and test trajectories, train ``model`` on the first, generate as many
    trajectories as the second, and compare their kinetics with the test trajectories.

    The one experiment of every notebook, under the suite's evaluation
    protocol: the trajectories are split by ``seed`` before anything is
    fitted (:func:`~mdlstm_utils.states.train_test_split`: whole trajectories,
    or contiguous blocks of fewer than four long ones); the language model,
    the lag-1 MSM and the validated MSM are fitted on the training part; the
    reference kinetics come from the test part alone. Generated trajectories,
    as many and as long as the test ones, are compared with it: populations
    and mean first-passage times (MFPTs) between ``sets`` with 95 %
    intervals, and the slowest implied timescales at the validated MSM's lag
    (``.slow``), beside the lag-1 MSM sampled the same way, the validated MSM
    (kinetics from the model) and the noise floor. Only ``labels`` is needed when
    it is a :class:`~mdlstm_utils.states.StateSpace` with sets; plain arrays
    also need ``n_states`` (and ``sets`` for MFPTs).

    Parameters
    ----------
    labels
        Reference label trajectories: a 2-D array ``(n_traj, n_frames)``, a
        list of 1-D arrays of any lengths, or a
        :class:`~mdlstm_utils.states.StateSpace` (which then gives
        ``n_states``, ``sets``, ``set_names`` and ``dt`` unless they are passed).
    n_states
        Number of states (tokens).
    sets
        The metastable sets whose populations and MFPTs are compared (lists of
        state labels, e.g. ``[[0], [1]]`` for two macrostates).
    model
        ``"lstm"`` or ``"transformer"`` (sizes ``hidden`` and ``d_model``, given as settings), or
        an :class:`~mdlstm_utils.lm.models.LSTMConfig` /
        :class:`~mdlstm_utils.lm.models.TransformerConfig` (:func:`build_model`).
    train
        A :class:`~mdlstm_utils.lm.train.TrainConfig` (default: the recipe, cosine decay without early
        stopping). With ``lr_schedule="constant"`` and no ``patience``, training stops after 3 epochs without
        improvement.
    generation
        A :class:`GenerateConfig`: how many trajectories to generate, how long, from which prompts (default:
        as many and as long as the reference, each prompted with the first 100 frames of one reference
        trajectory).
    baselines
        A :class:`BaselineConfig`: the MSM baseline and the noise floor to judge the model against (default:
        both, the MSM at a lag of one frame, 20 pairs of replicates for the floor).
    settings
        Any field of the three configs by keyword, overriding it: ``steps=1000, seq_len=50`` (``TrainConfig``;
        ``train_steps`` is a synonym of ``steps``), ``gen_frames=20000, prompt=windows``
        (``GenerateConfig``), ``noise_pairs=0`` (``BaselineConfig``; ``baseline`` and ``baseline_lag`` are
        synonyms of ``msm`` and ``msm_lag``), and ``hidden``, ``d_model`` (model sizes for a model given by
        name). An unknown name is refused with the names that exist.
    dt
        Time between frames (MFPTs are reported in this unit; default 1).
    set_names
        Names of the ``sets`` in tables and figures (default ``"0"``, ``"1"``, ...).
    n_train, test_fraction
        Train on ``n_train`` trajectories (or blocks) drawn by ``seed``; the others are the test reference.
        Default: a ``test_fraction`` of them (half) is the test part. The last 10 % of each training trajectory
        is held out for validation by :func:`~mdlstm_utils.lm.train.fit`. ``metrics["evaluation"]`` records
        the split.
    truth_its
        Optional exact slowest implied timescales (time units, slowest first), or a function of the lag in
        frames returning them (the projected timescales of a toy system at that lag): adds the errors of every
        model against them to ``.slow`` and ``metrics["slow_process"]``.
    truth_mfpt
        Optional true MFPT matrix between the same sets (same time unit as
        ``dt``). Adds ``mfpt_truth``, ``ref_vs_truth_err`` (how far the
        reference partition itself is from the truth) and
        ``gen_vs_truth_err`` (how far the generated trajectories are).
    train_labels, val_labels
        Optional label trajectories to train on (and to estimate the MSM
        baselines from) instead of a split of ``labels``, which are then all
        test reference (``evaluation.protocol == "given"``; a reference
        trajectory that is also a training one is warned about), and to
        validate on instead of the last ``val_fraction`` of each training
        trajectory. Same states as ``labels``.
    split
        A split of ``labels`` made by the caller (a :class:`~mdlstm_utils.states.Split`, for example one fold of
        :func:`~mdlstm_utils.states.kfold_splits`; :func:`learn_folds` runs them all), used as it is instead of
        the seed's.
    seed
        Seeds the split and the model's initialisation and training (``seed``), the
        generation (``seed + 1``), the MSM baseline (``seed + 2``), the noise floor (``seed + 3``) and the
        Bayesian samples of the validated MSM (``seed + 4``, ``seed + 5``).
    device
        ``"auto"`` (a GPU when there is one), ``"cpu"`` or ``"cuda"``.
    progress
        Show progress bars while training and generating.

    Returns
    -------
    LearnResult
        ``.comparison`` (the model vs the reference), ``.baseline_comparison``
        (the lag-1 MSM vs the reference), ``.validated``, ``.slow``, ``.split``
        and ``.noise_floor``, typed; ``.model``, ``.generated``, ``.learning``;
        and ``.metrics``, a JSON-ready dict with every key of
        :meth:`~mdlstm_utils.kinetics.Comparison.to_dict` and ``model``,
        ``parameters``, ``val_loss``, ``epochs_run``, ``train_seconds``,
        ``generation_seconds``, ``train_tokens_per_s``, ``evaluation`` (the
        split), ``validated_msm``, ``slow_process``, ``slow_its_err`` (the
        generated slowest timescales against the test reference's),
        ``msm_slow_its_err``, ``vmsm_slow_its_err`` and
        ``vmsm_mfpt_max_rel_err``.

    Examples
    --------
    A two-state Markov chain as the reference, four trajectories of 2000
    frames 1 ps apart; a small LSTM and a short training budget (about 15 s
    on a laptop CPU):

    >>> import numpy as np
    >>> from mdlstm_utils.states import from_labels
    >>> from mdlstm_utils.lm.experiment import learn_and_compare
    >>> rng = np.random.default_rng(0)
    >>> T = np.array([[0.98, 0.02], [0.03, 0.97]])
    >>> labels = np.zeros((4, 2000), dtype=int)
    >>> for traj in labels:
    ...     for t in range(1, traj.size):
    ...         traj[t] = rng.choice(2, p=T[traj[t - 1]])
    >>> space = from_labels(labels, dt="1ps", sets=[[0], [1]], set_names=["A", "B"])
    >>> result = learn_and_compare(space, hidden=32, train_steps=200, device="cpu")
    >>> result.comparison.mfpt_gen          # A→B and B→A in ps, beside .mfpt_ref
    >>> result.metrics["mfpt_max_rel_err"], result.metrics["msm_mfpt_max_rel_err"]

    Several partitions of the same data: :func:`learn_spaces`; the settings
    of the recipe: :class:`~mdlstm_utils.lm.train.TrainConfig`.
    """
    data, n_states, sets, set_names, dt, unit = _reference(labels, n_states, sets, set_names, dt)
    cfg, gcfg, bcfg, sizes = _settings(train, generation, baselines, settings)
    if split is not None:
        if n_train is not None or train_labels is not None:
            raise ValueError("give a split, or n_train / train_labels, not both")
        if not isinstance(split, Split):
            raise TypeError(f"split must be a Split (train_test_split, kfold_splits), got {type(split).__name__}")
        split = _checked_split(split, data)
    elif train_labels is None:  # the protocol: split by the seed before anything is fitted
        split = train_test_split(data, n_train=n_train, test_fraction=test_fraction, seed=seed)
    else:
        if n_train is not None:
            raise ValueError("give either n_train or train_labels, not both")
        split = _given_split(check_labels(train_labels, n_states, name="train_labels"), data)
    train_data, trajs = split.train, split.test  # fitted on the training part; the reference is the test part
    lengths = np.array([len(t) for t in trajs])
    n_traj = len(trajs)
    prompt, prompt_len, n_gen, gen_frames, like_reference = _generation_settings(
        lengths, gcfg.prompt, gcfg.prompt_len, gcfg.n_gen, gcfg.gen_frames)
    dev = resolve_device(device)
    val_data = None if val_labels is None else check_labels(val_labels, n_states, name="val_labels")
    ragged = like_reference and len(set(lengths.tolist())) > 1  # generated / MSM trajectories cut to the reference's

    parts = _fit_split(train_data, val_data, cfg)  # the frames fit trains on, and those it validates on
    msm1 = fit_markov(parts[0], n_states, 1)  # the lag-1 MSM of the training frames
    t0 = time.perf_counter()
    net, tr, target = _train(model, sizes, n_states, msm1, train_data, val_data, cfg, seed=seed, device=dev, progress=progress)
    t1 = time.perf_counter()
    src = np.arange(n_gen) % n_traj
    if prompt is None:
        prompt = np.stack([trajs[i][:prompt_len] for i in src])
    gen, remedy = _generate(net, gen_frames, gcfg.remedy, msm1, parts, cfg.seq_len,
                            prompt=prompt, seed=seed + 1, device=dev, progress=progress)
    if ragged:
        gen = [g[: lengths[i]] for g, i in zip(gen, src)]
    t2 = time.perf_counter()

    cmp = comparison(trajs, gen, n_states=n_states, sets=sets, set_names=set_names, dt=dt, dt_unit=unit)
    m = cmp.to_dict()
    base = _baselines(split, gen, prompt[:, -1], lengths[src] if ragged else None, gen_frames, n_states, sets,
                      set_names, dt, unit, bcfg, truth_its, seed)
    m.update(base.metrics)
    unseen = unseen_diagnostic(net, train_data, trajs, gen, n_states=n_states, msm=base.msm, device=dev,
                               seq_len=int(min(cfg.seq_len, lengths.min() - 1)),
                               sides=sets if sets is not None and len(sets) == 2 else None)
    m["unseen"] = unseen.to_dict()
    name = model.lower() if isinstance(model, str) else type(net).__name__.removesuffix("LM").lower()
    rec = learning_record(tr, train_data, val_data, n_states, cfg, msm=msm1)
    m.update(model=name, parameters=count_parameters(net), val_loss=tr.best_val_loss, epochs_run=len(tr.history),
             msm_val_loss=rec.msm_val_loss, loss_gap=rec.loss_gap,
             train_steps=tr.steps,
             train_seconds=t1 - t0, generation_seconds=t2 - t1, train_tokens_per_s=tr.tokens_per_second,
             evaluation=split.to_dict(), remedy=remedy, target=target)
    if truth_mfpt is not None:
        m.update(_truth_metrics(truth_mfpt, cmp, base.comparison, base.validated))
    return LearnResult(metrics=m, model=net, generated=gen, train=tr, comparison=cmp, baseline=base.msm,
                       baseline_comparison=base.comparison, noise_floor=base.floor, learning=rec, split=split,
                       validated=base.validated, slow=base.slow, unseen=unseen)


def _train(model, sizes: dict, n_states: int, msm1, train_data, val_data, cfg: TrainConfig, *, seed: int, device, progress: bool):
    """Build and train the model; returns ``(net, TrainResult, target record)``.

    With ``cfg.target == "msm"`` and no strength, one model is trained per strength of
    :data:`~mdlstm_utils.lm.targets.PULL_GRID`, each from the same seed, and the one with the smallest validation
    loss (plain cross-entropy on the validation frames) is kept; the record lists the grid and the losses."""
    def one(c: TrainConfig):
        seed_everything(seed)
        net = build_model(model, n_states, **sizes)
        if getattr(net, "msm_prior", False):  # the logits start from the lag-1 MSM
            net.set_prior(msm1.transition_matrix())
        return net, fit(net, train_data, val_data, config=c, seed=seed, device=device, progress=progress)

    if cfg.target != "msm" or cfg.target_strength is not None:
        net, tr = one(cfg)
        return net, tr, {"kind": cfg.target, "value": cfg.target_strength}
    runs = [one(cfg.replace(target_strength=w)) for w in PULL_GRID]
    losses = [r[1].best_val_loss for r in runs]
    best = int(np.argmin(losses))
    return (*runs[best], {"kind": "msm", "name": "MSM-pull strength", "grid": list(PULL_GRID), "losses": losses,
                          "value": PULL_GRID[best]})


def _generate(net, gen_frames: int, remedy: str, msm1, parts, seq_len: int, **options) -> tuple:
    """The generated trajectories with ``remedy`` (:data:`REMEDIES`) and its record: the kind and, for a value chosen
    on the validation frames (``parts[1]``: never the test part), the choice. ``msm1``: the lag-1 chain of the
    training frames ``parts[0]``."""
    if remedy == "none":
        return generate(net, gen_frames, **options), {"kind": "none"}
    if remedy == "calibrated":
        return generate_calibrated(net, gen_frames, train=parts[0], **options), {"kind": "calibrated"}
    t_msm = msm1.transition_matrix()
    mix, tmp = choose_on_validation(net, parts[1], t_msm, seq_len=seq_len, device=options["device"])
    if remedy == "temperature":
        return generate(net, gen_frames, temperature=tmp.value, **options), {"kind": remedy, **tmp.to_dict()}
    return (generate_anchored(net, gen_frames, transition_matrix=t_msm, weight=mix.value, **options),
            {"kind": remedy, **mix.to_dict()})


@dataclass
class _Baselines:
    """What :func:`learn_and_compare` judges a model against, and their metrics."""

    metrics: dict
    msm: np.ndarray | list | None = None
    comparison: Comparison | None = None
    floor: NoiseFloor | None = None
    validated: ValidatedMSM | None = None
    slow: SlowProcess | None = None


def _baselines(split: Split, gen, start, cut, gen_frames: int, n_states: int, sets, set_names, dt: float, unit: str,
               bcfg: BaselineConfig, truth_its, seed: int) -> _Baselines:
    """The lag-1 MSM sampled like the model (``start`` states, ``cut`` lengths), the noise floor of the test part,
    and the validated MSM with the slowest timescales of every model at its lag, as ``bcfg`` asks."""
    train_data, trajs = split.train, split.test
    out = _Baselines({})
    if bcfg.msm:
        out.msm, out.comparison = _msm_baseline(trajs, train_data, n_states, sets, set_names, dt, unit, bcfg.msm_lag,
                                                gen_frames, start, cut, seed + 2)
        b = out.comparison.to_dict()
        if sets is not None:
            out.metrics.update({f"msm_{k}": b[k] for k in ("mfpt_gen", "mfpt_gen_low", "mfpt_gen_high",
                                                            "mfpt_max_rel_err", "set_pop_max_abs_err")})
    if sets is not None and bcfg.noise_pairs:
        out.floor = noise_floor(trajs, n_states=n_states, sets=sets, gen_frames=sum(len(g) for g in gen), dt=dt,
                                n_pairs=bcfg.noise_pairs, seed=seed + 3)
        out.metrics.update(out.floor.to_dict())
    if bcfg.msm and bcfg.validated_msm:
        out.validated, out.slow = _validated_baseline(train_data, trajs, gen, out.msm, n_states, sets, set_names, dt,
                                                      bcfg, truth_its, seed)
        out.metrics.update(validated_msm=out.validated.to_dict(), slow_process=out.slow.to_dict(),
                           slow_its_err=out.slow.error("generated"),
                           msm_slow_its_err=out.slow.error(_lag_name(bcfg.msm_lag)),
                           vmsm_slow_its_err=out.slow.error("MSM (validated)"))
        if sets is not None:
            out.metrics["vmsm_mfpt_max_rel_err"] = relative_error(out.validated.mfpt, out.comparison.mfpt_ref)
    return out


def _lag_name(lag: int) -> str:
    """The name of the sampled MSM baseline in :class:`~mdlstm_utils.kinetics.SlowProcess`."""
    return f"MSM (lag {lag})"


def _checked_split(split: Split, data: list) -> Split:
    """``split`` when every piece of it is the piece of ``data`` its record says (so that a split of other data is
    refused before anything is fitted)."""
    for part, src, start in ((split.train, split.train_source, split.train_start),
                             (split.test, split.test_source, split.test_start)):
        for t, i, a in zip(part, src, start):
            if i >= len(data) or not np.array_equal(np.asarray(t), data[i][a:a + len(t)]):
                raise ValueError("split is not a split of these labels (a piece differs from the trajectory and "
                                 "frames its record names); make it from the same labels")
    return split


def _given_split(train_data: list, reference: list) -> Split:
    """The record of a split the caller made (``train_labels`` given): the reference is all of ``labels``. A
    reference trajectory identical to a training one is judged in-sample, which the protocol forbids: warned."""
    seen = {t.tobytes() for t in train_data}
    shared = sum(t.tobytes() in seen for t in reference)
    if shared:
        warnings.warn(f"{shared} of the {len(reference)} reference trajectories are also training trajectories: the "
                      "model is judged on data it was fitted on. Pass the held-out trajectories as labels "
                      "(or leave out train_labels and let the seed split them).", stacklevel=3)
    none = np.zeros(0, dtype=np.int64)
    return Split(list(train_data), list(reference), none, none, none, none, "given", None)


def _validated_baseline(train_data, test, gen, msm, n_states, sets, set_names, dt, bcfg, truth_its, seed):
    """The validated MSM of the training part, and the slowest implied timescales of the reference, the generated
    trajectories and both MSM baselines at its lag: ``(ValidatedMSM, SlowProcess)``."""
    vmsm = validated_msm(train_data, n_states, sets, dt=dt, set_names=set_names, n_samples=bcfg.its_samples,
                         seed=seed + 4)
    k = n_slow_processes(vmsm.timescales, vmsm.lag, dt, n_sets=len(sets) if sets is not None else None)
    others = {"generated": gen}
    if msm is not None:
        others[_lag_name(bcfg.msm_lag)] = (msm, dt * bcfg.msm_lag)
    truth = truth_its(vmsm.lag) if callable(truth_its) else truth_its
    slow = slow_process(test, n_states=n_states, lag=vmsm.lag, dt=dt, k=k, others=others, validated=vmsm,
                        truth=truth, n_samples=bcfg.its_samples, seed=seed + 5)
    return vmsm, slow


def _generation_settings(lengths: np.ndarray, prompt, prompt_len: int, n_gen, gen_frames):
    """The checked ``(prompt, prompt_len, n_gen, gen_frames, like_reference)`` of :func:`learn_and_compare`."""
    n_traj = len(lengths)
    if prompt is not None:
        prompt = np.asarray(prompt)
        if prompt.ndim != 2 or not np.issubdtype(prompt.dtype, np.integer) or gen_frames is None:
            raise ValueError(f"prompt must be an int array (n_gen, k) and needs gen_frames, got shape {prompt.shape} "
                             f"of {prompt.dtype} and gen_frames={gen_frames}")
        n_gen, prompt_len = prompt.shape
    elif not 1 <= prompt_len < lengths.min():
        raise ValueError(f"prompt_len={prompt_len} must be >= 1 and shorter than the test trajectories "
                         f"(the shortest has {lengths.min()} frames)")
    n_gen = n_traj if n_gen is None else int(n_gen)
    like_reference = gen_frames is None
    gen_frames = int(lengths.max()) if like_reference else int(gen_frames)
    if n_gen < 1 or gen_frames < 1:
        raise ValueError(f"n_gen and gen_frames must be >= 1, got {n_gen} and {gen_frames}")
    return prompt, prompt_len, n_gen, gen_frames, like_reference


def _msm_baseline(trajs, train_data, n_states, sets, set_names, dt, unit, lag: int, gen_frames: int, start, cut,
                  seed: int):
    """The MSM baseline of :func:`learn_and_compare`: trajectories of a lag-``lag`` MSM of ``train_data`` from the
    ``start`` states, covering ``gen_frames`` reference frames (each cut to ``cut[i]`` frames when given), and
    their :class:`~mdlstm_utils.kinetics.Comparison` with the reference."""
    msm = msm_trajectories(train_data, n_states=n_states, lag=lag, n_steps=-(-gen_frames // lag), start=start, seed=seed)
    if cut is not None:
        msm = [b[: -(-int(n) // lag)] for b, n in zip(msm, cut)]
    return msm, comparison(trajs, msm, n_states=n_states, sets=sets, set_names=set_names, dt=dt, dt_gen=dt * lag,
                           dt_unit=unit)


def _truth_metrics(truth_mfpt, cmp: Comparison, bcmp: Comparison | None, vmsm: ValidatedMSM | None) -> dict:
    """How far the reference, the generated trajectories and the MSM baselines are from the true MFPTs."""
    truth = np.asarray(truth_mfpt, dtype=float)
    out = {"mfpt_truth": truth.tolist(), "ref_vs_truth_err": relative_error(cmp.mfpt_ref, truth),
           "gen_vs_truth_err": relative_error(cmp.mfpt_gen, truth)}
    if bcmp is not None:
        out["msm_vs_truth_err"] = relative_error(bcmp.mfpt_gen, truth)
    if vmsm is not None and vmsm.mfpt is not None:
        out["vmsm_vs_truth_err"] = relative_error(vmsm.mfpt, truth)
    return out


def _same_space(a: StateSpace, b: StateSpace) -> bool:
    """Whether two state spaces hold the same labels and the same metastable sets."""
    return (a.n_states == b.n_states and len(a.trajs) == len(b.trajs) and (a.sets is None) == (b.sets is None)
            and all(np.array_equal(x, y) for x, y in zip(a.trajs, b.trajs))
            and (a.sets is None or (len(a.sets) == len(b.sets)
                                    and all(np.array_equal(x, y) for x, y in zip(a.sets, b.sets)))))


def learn_spaces(spaces: dict, *, prompt_of=None, verbose: bool = True, **settings) -> dict:
    """:func:`learn_and_compare` on each of several state spaces: one model per partition, the same settings.

    ``spaces`` maps a name to a :class:`~mdlstm_utils.states.StateSpace` (with
    its metastable sets); ``prompt_of(space)``, when given, returns the
    prompts of that space (``prompt=``); every other keyword goes to
    :func:`learn_and_compare` unchanged. A space with the same labels and sets
    as an earlier one is not learned again: it gets the earlier result, with
    ``metrics["same_labels_as"]`` naming it (for example coring with a dwell
    too short to change anything). Returns ``{name: LearnResult}`` in the
    order of ``spaces``.
    """
    results = {}
    for name, space in spaces.items():
        if not isinstance(space, StateSpace):
            raise TypeError(f"spaces[{name!r}] must be a StateSpace, got {type(space).__name__}")
        same = next((k for k in results if _same_space(spaces[k], space)), None)
        if same is not None:
            results[name] = replace(results[same], metrics=dict(results[same].metrics, same_labels_as=same))
        else:
            prompt = None if prompt_of is None else prompt_of(space)
            results[name] = learn_and_compare(space, prompt=prompt, **settings)
        if verbose:
            m = results[name].metrics
            print(f"--- {name}: " + (f"the same labels as '{same}', result reused" if same else
                  f"{space.n_states} tokens, {m['epochs_run']} epochs in {m['train_seconds']:.0f} s, "
                  f"slow-process error {runtime_fmt(m.get('mfpt_max_rel_err'), '.2f')}"))
    return results


@dataclass(frozen=True, eq=False)
class FoldResult:
    """What :func:`learn_folds` returns: one :class:`LearnResult` per fold, and the slow-process error of each model
    per fold (``errors[name]``, an array over the folds; names ``"generated"``, ``"MSM (lag 1)"`` and
    ``"MSM (validated)"``: the slowest implied timescales at the validated lag against the fold's test part)."""

    results: list
    errors: dict

    @property
    def n_folds(self) -> int:
        return len(self.results)

    def mean(self, name: str = "generated") -> float:
        """The mean over the folds; ``inf`` when a fold's model missed a process (no fold silently dropped)."""
        return float(np.mean(self.errors[name]))

    def to_dict(self) -> dict:
        return {"protocol": self.results[0].split.protocol, "n_folds": self.n_folds,
                "errors": {k: v.tolist() for k, v in self.errors.items()},
                "mean": {k: self.mean(k) for k in self.errors},
                "folds": [r.split.to_dict() for r in self.results]}


def learn_folds(labels, k: int = 4, *, seed: int = 0, progress: bool = False, **settings) -> FoldResult:
    """:func:`learn_and_compare` on each of the ``k`` folds of :func:`~mdlstm_utils.states.kfold_splits`: for data
    too few for one training / test split, every trajectory (or block) is judged once by a model that never saw
    it, at ``k`` times the cost. ``labels`` as for :func:`learn_and_compare` (a
    :class:`~mdlstm_utils.states.StateSpace` keeps its sets and time step); every other keyword goes to it
    unchanged. Fold ``i`` trains with seed ``seed + i``."""
    data = list(labels.trajs) if isinstance(labels, StateSpace) else labels
    splits = kfold_splits(data, k, seed=seed)
    results = []
    for i, sp in enumerate(tqdm(splits, desc="folds", disable=not progress)):
        results.append(learn_and_compare(labels, split=sp, seed=seed + i, progress=False, **settings))
    names = ("generated", "MSM (lag 1)", "MSM (validated)")
    errors = {n: np.array([r.slow.error(n) if r.slow is not None else np.nan for r in results]) for n in names}
    return FoldResult(results, errors)
