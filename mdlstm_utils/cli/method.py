"""The method of ``mdlstm analyze``: the suite's whole method on your own trajectories, features or labels.

The command line itself is :mod:`~mdlstm_utils.cli.analyze`, which imports this module (and with it torch,
deeptime and matplotlib) only after its arguments are parsed, so that ``mdlstm analyze --help`` answers at once.

One command (or :func:`run` from Python, or notebook 08 step by step) takes
what a researcher has: trajectory files that mdtraj reads with their topology,
feature arrays (``.npy`` / ``.npz``), or label trajectories that were
discretized elsewhere. It then does what the tutorial notebooks teach, each
step chosen by a rule that is printed and can be overridden:

1. TICA of the features (lag: 1 % of the shortest trajectory; dimension:
   95 % of the kinetic variance, between 2 and 10);
2. k-means microstates (``sqrt(frames)``, capped by the profile);
3. the MSM lag where the slowest implied timescale has levelled off, judged
   with its 95 % intervals over a decade of longer lags;
4. the number of metastable states at a clear gap between timescales (2, the
   slowest process, when no gap stands out);
5. PCCA+ and core sets (a frame between cores keeps the last core), with
   dynamical coring (the shortest minimum dwell at which the number of
   transitions stops falling), at the lowest core threshold whose cores sit in
   the wells and relax like the microstate MSM's slowest process; when cores
   cannot be formed, fewer states or a longer lag, each alternative printed;
6. self-checks from the data alone (:func:`self_checks`): implied timescales
   converged at the lag; populations as PCCA+ says; and, on the held-out part
   (the test trajectories of the evaluation protocol's split, which the model
   is judged on), with criteria that did not choose the states: a
   Chapman–Kolmogorov test of the chosen states reaching the slowest timescale,
   and their slowest implied timescale against the microstate MSM's. The two
   criteria that chose the core threshold (relaxation as the MSM's, cores in the
   wells) are shown as information: they hold by construction. The verdict on
   the model says "Targets met" only when the checks pass, and otherwise which
   failed, what it means and what to try;
7. a language model trained on the cored metastable labels, trajectories
   generated like the reference (same number, same lengths), an MSM at the same
   lag sampled the same way, and the comparison of populations, mean
   first-passage times and the slowest relaxation time (from the rates
   between the metastable states, :func:`~mdlstm_utils.kinetics.relaxation_timescales`)
   with 95 % intervals.

The model's learning record (learning curve, validation loss beside a lag-1
MSM's) is shown beside its slow-process error, with the transitions it gets
wrong (:func:`~mdlstm_utils.lm.diagnostics.transition_errors`).

It writes ``OUT/report.html`` (rendered from the jinja2 templates of
:mod:`~mdlstm_utils.cli.report`, figures embedded, readable offline),
``OUT/metrics.json`` (with ``evaluation``, the split) and the files to reuse
(:data:`OUTPUT_FILES`: the states per frame, the generated trajectories, the
trained model); times are in the unit of ``--dt``. With ``--labels
--keep-states`` the given labels are the states (no PCCA+, cores or coring),
each its own set for the MFPTs. Every input that reads
correctly ends with both files: when a step past reading fails (no state space
can be formed, the model cannot be trained, ...), they hold the steps so far, the
step that failed, why, and what to try (:class:`Partial`), and the command exits
with status 2. Bad input, and input too short for the model's training windows once the
evaluation protocol has split it (:func:`check_length`), is refused before any long step, with a message that
names the file or the setting and the problem, and then nothing is written to
``OUT``; otherwise nothing is written to ``OUT`` until the analysis has finished.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from mdlstm_utils.states import lag as lagmod
from mdlstm_utils.lm.diagnostics import transition_errors
from mdlstm_utils.kinetics.memory import memory_test
from mdlstm_utils.runtime import seed_everything
from mdlstm_utils.lm.experiment import learn_and_compare
from mdlstm_utils.lm.train import FULL_STEPS, QUICK_BATCH, TrainConfig, save_checkpoint, split_trajectories
from mdlstm_utils.states import StateSpace, estimate_msm, from_labels, train_test_split
from mdlstm_utils.states.split import MIN_UNITS, TEST_FRACTION
# the steps' names are also reached as analyze.<name> (notebook 08, the tests): some are imported for that alone
from mdlstm_utils.cli.checks import (Check, HeldOut, SelfChecks, check_ck_heldout, check_cores, check_its,
                                     check_populations, check_relaxation, check_timescale_heldout, held_out)
from mdlstm_utils.cli.inputs import Inputs, read_inputs
from mdlstm_utils.cli.metastable import (AnalysisFailed, CoreTrial, StateChoice, find_metastable, slowest_relaxation,
                                         try_threshold)
from mdlstm_utils.cli.report import FIGURE_NAMES, HOW_TO_READ, figure, figures, partial_report_html, report_html
from mdlstm_utils.cli.results import OUTPUT_FILES, Analysis, Learned, Partial, States
from mdlstm_utils.states.rules import (Choice, Reduction, agree, choose_lag, choose_min_dwell, choose_n_macro,
                                       cluster, msm_slowest, reduce_features, timescales_at)

# its own names; the steps' names (rules, checks, inputs, figures) are importable from here too, documented where
# they are defined
__all__ = ["PROFILES", "STEP_ADVICE", "MAX_CK_SETS", "OUTPUT_FILES", "Analysis", "Partial", "States", "build_states",
           "check_length", "learn", "self_checks", "slow_groups", "train_config", "transitions", "run", "write_report"]

#: The CK-test figure of the microstate MSM shows at most this many PCCA+ sets (with ``--keep-states`` and many
#: labels, one panel per pair of sets would not be readable).
MAX_CK_SETS = 6

#: Sizes per profile: ``smoke`` checks that everything runs (seconds), ``quick`` gives numbers worth reading
#: in minutes on two CPU cores, ``full`` uses finer microstates, the suite's full training recipe
#: (:data:`~mdlstm_utils.lm.train.FULL_STEPS` steps of :data:`~mdlstm_utils.lm.train.QUICK_BATCH` windows of 50
#: frames) and 200 posterior samples per lag for the timescale intervals (bounds good to about 5 % of the width).
PROFILES = {
    "smoke": dict(max_frames=3000, max_micro=20, n_lags=6, hidden=32, its_samples=10,
                  train=TrainConfig(seq_len=32, batch_size=16, epochs=4, steps=30)),
    "quick": dict(max_frames=None, max_micro=100, n_lags=12, hidden=64, its_samples=20,
                  train=TrainConfig(seq_len=50, batch_size=32, epochs=4, steps=1000)),
    "full": dict(max_frames=None, max_micro=200, n_lags=16, hidden=64, its_samples=200,
                 train=TrainConfig(seq_len=50, batch_size=QUICK_BATCH, epochs=4, steps=FULL_STEPS)),
}




#: What to try when a step of the method fails, in the options of ``mdlstm analyze`` (the partial report's
#: advice; a step whose own error says what to try, such as :func:`find_metastable`'s, gives that instead).
STEP_ADVICE = {
    "features (TICA)": "give the TICA lag or dimension (--tica-lag, --tica-dim), other features (--features), or "
                       "longer trajectories",
    "microstates (k-means)": "give fewer microstates (--n-micro), or other features (--features)",
    "implied timescales and the MSM lag": "give the lag (--lag), fewer microstates (--n-micro), or longer "
                                          "trajectories",
    "metastable states": "give fewer microstates (--n-micro), more data, or features that separate the wells",
    "self-checks": "give the lag (--lag), fewer microstates (--n-micro), or more data",
    "language model": "a shorter training window (--seq-len), or longer or more trajectories; the state space "
                      "above was formed, and its choices and self-checks can be read as they are",
    "transitions and memory": "more data: the reference has too few transitions for this comparison",
    "verdict": "this looks like a bug of mdlstm analyze: please report it with the message above",
}


def train_config(profile: str = "quick", seq_len: int | None = None) -> TrainConfig:
    """The profile's training recipe (:data:`PROFILES`), with ``seq_len`` (frames per training window) when given."""
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}; choose one of {tuple(PROFILES)}")
    cfg = PROFILES[profile]["train"]
    return cfg if seq_len is None else replace(cfg, seq_len=int(seq_len))


def _training_pieces(lengths, seed: int) -> tuple[list[int], object]:
    """The lengths of the pieces the model trains on, and the split: the evaluation protocol's split
    (:func:`~mdlstm_utils.states.train_test_split`, defaults and ``seed``, as
    :func:`~mdlstm_utils.lm.experiment.learn_and_compare` makes it) of trajectories of these lengths. The split
    depends on the lengths and the seed alone, so it is made here on placeholders, before any work. ``([],
    None)`` when no split can be made (fewer than two pieces of at least two frames)."""
    try:
        split = train_test_split([np.zeros(int(n), dtype=np.int64) for n in lengths], seed=seed)
    except ValueError:
        return [], None
    return [len(t) for t in split.train], split


def _fits(pieces: list[int], cfg: TrainConfig) -> bool:
    """Whether :func:`~mdlstm_utils.lm.train.fit` can train on training pieces of these lengths: it holds out the
    last ``val_fraction`` of each for validation (:func:`~mdlstm_utils.lm.train.split_trajectories`); the longest
    part it trains on, and some held-out part, must each hold a window of ``seq_len + 1`` frames."""
    if not pieces:
        return False
    kept, held = split_trajectories([np.zeros(n, dtype=np.int8) for n in pieces], cfg.val_fraction)
    w = cfg.seq_len + 1
    return max(len(k) for k in kept) >= w and max(len(v) for v in held) >= w


def min_length(n_traj: int, cfg: TrainConfig, seed: int = 0) -> int:
    """The fewest frames per trajectory with which ``n_traj`` trajectories of equal length can be trained on
    under the evaluation protocol (:func:`check_length`)."""
    lo, hi = 2, 64
    while not _fits(_training_pieces([hi] * n_traj, seed)[0], cfg):
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # more frames never make fewer or shorter pieces
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _fits(_training_pieces([mid] * n_traj, seed)[0], cfg) else (mid, hi)
    return hi


def check_length(lengths, *, profile: str = "quick", seq_len: int | None = None, seed: int = 0,
                 what: str = "") -> None:
    """Refuse trajectories too short for the language model before any work, with the reason in the user's
    terms (``ValueError``).

    ``lengths``: frames per trajectory (or :class:`Inputs`). The evaluation protocol splits them by ``seed``
    before anything is fitted (:func:`~mdlstm_utils.states.train_test_split`: whole trajectories, or, with fewer
    than :data:`~mdlstm_utils.states.split.MIN_UNITS`, each cut into contiguous blocks first; half of them,
    :data:`~mdlstm_utils.states.split.TEST_FRACTION`, are the test reference). The model trains on the others,
    and :func:`~mdlstm_utils.lm.train.fit` holds out the last ``val_fraction`` (10 %) of each for validation: a
    training piece must keep a window of ``seq_len + 1`` frames (``seq_len`` frames and the one each predicts)
    in that held-out tail. One trajectory of 800 frames, for example, becomes 4 blocks of 200, two of them
    train, and their last 20 frames cannot hold a window of 33. The message says how long the trajectories
    must be (:func:`min_length`) and which ``--seq-len`` would fit these. ``what``: how to name the
    trajectories in the message (default: as frames of the input).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be an int >= 0")
    if isinstance(lengths, Inputs):
        _check_overrides(lengths, seq_len=seq_len)
        lengths = lengths.lengths
    cfg = train_config(profile, seq_len)
    lengths = [int(n) for n in np.asarray(lengths).ravel()]
    pieces, split = _training_pieces(lengths, seed)
    if _fits(pieces, cfg):
        return
    need = min_length(len(lengths), cfg, seed)
    fits = 0  # the longest window that these pieces hold, less its predicted frame
    if pieces:
        kept, held = split_trajectories([np.zeros(n, dtype=np.int8) for n in pieces], cfg.val_fraction)
        fits = min(max(len(k) for k in kept), max(len(v) for v in held)) - 1
    shorter = (f", or a shorter --seq-len (at most {fits})" if fits >= 2 else
               "; no --seq-len fits trajectories this short")
    n = len(lengths)
    span = f"{min(lengths)}" if min(lengths) == max(lengths) else f"{min(lengths)}–{max(lengths)}"
    frames = f"{lengths[0]} frames" if n == 1 else f"{n} trajectories of {span} frames"
    val = f"{cfg.val_fraction * 100:g} %"
    if split is None:
        how = "they cannot even be split into training and test pieces of two frames or more"
    else:
        most = max(len(v) for v in held)
        most = f"{most} frame{'s' if most != 1 else ''} at most here"
        n_train, n_test = len(split.train), len(split.test)
        if split.protocol == "blocks":
            per = -(-MIN_UNITS // n)
            how = (f"the evaluation protocol cuts {'it' if n == 1 else 'each'} into {per} contiguous blocks, trains "
                   f"on {n_train} of the {n_train + n_test} blocks (the other {n_test} are the test reference) and "
                   f"validates on the last {val} of each training block: {most}")
        else:
            how = (f"the evaluation protocol trains on {n_train} of the {n} trajectories (chosen by --seed {seed}; "
                   f"the other {n_test} are the test reference) and validates on the last {val} of each: {most}")
    raise ValueError(f"{what or frames}: the model needs windows of at least {cfg.seq_len + 1} frames (--seq-len "
                     f"{cfg.seq_len} and the frame it predicts) in the frames it validates on, and {how}. Give "
                     f"trajectories of at least {need} frames{' each' if n > 1 else ''}"
                     f"{', or more trajectories' if n < MIN_UNITS else ''}{shorter}")


def learn(space: StateSpace, lag: int, *, model: str = "lstm", profile: str = "quick", seed: int = 0, device="auto",
          seq_len: int | None = None, progress: bool = True) -> Learned:
    """Train ``model`` on the metastable labels, generate like the reference, sample the MSM at ``lag``; compare.

    ``seq_len``: frames per training window (default: the profile's, :func:`train_config`)."""
    cfg = PROFILES[profile]
    prompt = int(min(100, max(1, space.lengths.min() // 10)))
    res = learn_and_compare(space, model=model, prompt_len=prompt, train=train_config(profile, seq_len),
                            hidden=cfg["hidden"], baseline_lag=lag, seed=seed, device=device, progress=progress)
    slowest = {  # the reference is the test part alone (the evaluation protocol), as in res.comparison
        "reference": slowest_relaxation(res.split.test, space.n_states, space.dt),
        "lm": slowest_relaxation(res.generated, space.n_states, space.dt),
        "msm": slowest_relaxation(res.baseline, space.n_states, space.dt * lag),
    }
    return Learned(res, slowest)


def slow_groups(space: StateSpace, lag: int) -> np.ndarray:
    """The two sides of the slowest process among the metastable states: PCCA+ into 2 sets of the reference's
    MSM on the learned labels at ``lag`` (with 2 states, each state is one side). Transitions between the sides
    make the slowest process (:func:`~mdlstm_utils.lm.diagnostics.transition_errors`)."""
    n = space.n_states
    if n == 2:
        return np.arange(2)
    msm = estimate_msm(list(space.trajs), n, lag)
    groups = np.zeros(n, dtype=int)
    active = np.asarray(msm.count_model.state_symbols, dtype=int)
    groups[active] = np.argmax(np.asarray(msm.pcca(2).memberships), axis=1)
    return groups


def transitions(space: StateSpace, learned: Learned, lag: int):
    """Which transitions the language model gets wrong: :func:`~mdlstm_utils.lm.diagnostics.transition_errors` of
    the generated against the reference labels (the test part, as every comparison of the protocol) at ``lag``, the sides of the slowest process as the groups
    (:func:`slow_groups`); ``None`` when the reference has too few transitions at that lag."""
    try:
        return transition_errors(list(learned.result.split.test), list(learned.result.generated), space.n_states,
                                 slow_groups(space, lag), lag=lag, dt=space.dt)
    except ValueError as exc:
        print(f"warning: no transition comparison ({exc})")
        return None






# ---------------------------------------------------------------------------------------------
# The whole analysis
# ---------------------------------------------------------------------------------------------




def _stopped(done: Partial, exc: Exception) -> AnalysisFailed:
    """``exc``, raised in step ``done.step``, as an :class:`AnalysisFailed` whose ``partial`` is ``done`` with the
    reason and what to try: every failure past reading ends in a report that says which step failed and why.
    An error type other than ``ValueError`` is named in the reason (it may be a bug; the cause stays chained)."""
    if isinstance(exc, AnalysisFailed):
        done.reason, done.advice = str(exc), exc.advice or STEP_ADVICE.get(done.step, "")
    else:
        what = "" if isinstance(exc, ValueError) else f"{type(exc).__name__}: "
        done.reason = f"{what}{exc}"
        done.advice = STEP_ADVICE.get(done.step, "")
    return AnalysisFailed(done.reason, done, advice=done.advice)








def history_test(space: StateSpace):
    """:func:`~mdlstm_utils.kinetics.memory.memory_test` of the metastable labels the model learns (orders 1-3): does their
    next state depend on more than the current one? Returns the reason as a string when the data cannot answer."""
    try:
        return memory_test(list(space.trajs), space.n_states, orders=(1, 2, 3))
    except ValueError as exc:
        return f"the memory test could not run on these labels: {exc}"










def _check_overrides(inputs: Inputs, **given) -> None:
    """Refuse impossible overrides before any long step (a lag longer than every trajectory, ...)."""
    longest = int(inputs.lengths.max())
    for name in ("tica_lag", "lag", "min_dwell", "n_micro", "n_macro", "tica_dim", "seq_len"):
        v = given.get(name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}={v!r} must be an int >= 1")
        if name in ("tica_lag", "lag") and v >= longest:
            raise ValueError(f"{name}={v} frames: every trajectory is shorter (the longest has {longest} frames)")
    if inputs.kind == "labels" and given.get("tica_lag") is not None:
        raise ValueError("tica_lag applies to features; the inputs are labels")
    th = given.get("core_threshold")
    if th is not None and not 0.5 < th < 1:
        raise ValueError(f"core_threshold={th} must be in (0.5, 1): above 0.5 so that a microstate is in at most "
                         "one core, below 1 so that a core can hold any microstate")
    if given.get("keep_states"):
        if inputs.kind != "labels":
            raise ValueError("--keep-states keeps state labels as given: it needs label inputs (--labels); "
                             f"the inputs are {inputs.kind}")
        lumping = [f"--{k.replace('_', '-')}" for k in ("n_macro", "core_threshold", "min_dwell")
                   if given.get(k) is not None]
        if lumping:
            raise ValueError(f"--keep-states analyses the labels as given; {', '.join(lumping)} would lump or core "
                             "them: give one or the other")


def _print_choice(name: str, c: Choice) -> None:
    print(f"  {name:<16} {c.value!s:>8}   ({c.rule})")


def build_states(inputs: Inputs, *, profile: str = "quick", seed: int = 0, device="auto", tica_lag=None,
                 tica_dim=None, n_micro=None, lag=None, n_macro=None, core_threshold=None, min_dwell=None,
                 keep_states: bool = False) -> States:
    """The steps of :func:`run` up to the metastable labels, each choice printed, and the self-checks
    (:func:`self_checks`; those on the held-out part use the split of ``seed``, the one the model is judged on).

    ``keep_states`` (label inputs only): the given labels are the states, each its own set for the MFPTs, with
    no PCCA+ lumping, cores or coring (``--n-macro``, ``--core-threshold`` and ``--min-dwell`` are refused with
    it). A bad profile or override is refused first (``ValueError``). A step that fails after that, for any reason,
    raises :class:`AnalysisFailed` whose ``partial`` (:class:`Partial`) holds the steps so far, the step that
    failed, why, and what to try: the report of an analysis that stopped (:func:`write_report`).
    """
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}; choose one of {tuple(PROFILES)}")
    _check_overrides(inputs, tica_lag=tica_lag, lag=lag, min_dwell=min_dwell, n_micro=n_micro, n_macro=n_macro,
                     tica_dim=tica_dim, core_threshold=core_threshold, keep_states=keep_states)
    seed_everything(seed)
    done = Partial(inputs, profile, {}, None, [], "")
    try:
        return _states(inputs, done, PROFILES[profile], seed=seed, device=device, tica_lag=tica_lag,
                       tica_dim=tica_dim, n_micro=n_micro, lag=lag, n_macro=n_macro, core_threshold=core_threshold,
                       min_dwell=min_dwell, keep_states=keep_states)
    except Exception as exc:
        raise _stopped(done, exc) from exc


def _states(inputs: Inputs, done: Partial, cfg: dict, *, seed, device, tica_lag, tica_dim, n_micro, lag, n_macro,
            core_threshold, min_dwell, keep_states=False) -> States:
    """:func:`build_states`' steps in order; ``done`` records each step as it starts and each choice as it is
    made, so that a failure anywhere reports what was done before it."""
    choices, seconds = done.choices, done.seconds
    t = time.perf_counter()
    print(inputs.describe())
    red = km = None
    if inputs.kind == "labels":
        done.step = "microstates (the given labels)"
        micro = from_labels(inputs.data, dt=inputs.dt, dt_unit=inputs.dt_unit, kind="micro")
        choices["n_micro"] = Choice(micro.n_states, "the given labels")
    else:
        done.step = "features (TICA)"
        red = reduce_features(inputs.data, lag=tica_lag, dim=tica_dim)
        choices["tica_lag"], choices["tica_dim"] = red.lag, red.dim
        done.step = "microstates (k-means)"
        micro, km, choices["n_micro"] = cluster(red.tics, inputs.dt, inputs.dt_unit, n_micro=n_micro,
                                                max_micro=cfg["max_micro"], seed=seed, device=device)
    seconds["states"] = time.perf_counter() - t
    done.step = "implied timescales and the MSM lag"
    its, choices["lag"] = choose_lag(micro, lag=lag, n_lags=cfg["n_lags"], n_samples=cfg["its_samples"], seed=seed)
    done.its = its
    tau = choices["lag"].value
    if keep_states:
        done.step = "metastable states"
        space, ms, dwell_scan, notes, trials, dropped = _kept_states(micro, inputs, choices), None, None, [], [], ()
    else:
        done.step = "metastable states"
        choices["n_macro"] = choose_n_macro(its, tau, n_macro=n_macro)
        sc = find_metastable(micro, its, choices["lag"], choices["n_macro"], core_threshold=core_threshold,
                             min_dwell=min_dwell)
        done.notes, done.dropped = list(sc.notes), sc.dropped
        for note in sc.notes:
            print(f"note: {note}")
        choices |= sc.choices
        tau, ms, space = choices["lag"].value, sc.metastable, sc.space
        dwell_scan, notes, trials, dropped = sc.dwell_scan, sc.notes, sc.trials, sc.dropped
    done.step = "self-checks"
    checks = self_checks(micro, its, choices, space, ms, dropped, seed=seed, n_samples=cfg["its_samples"])
    # the CK test's lag: 5 multiples of it reach the slowest timescale (the chosen lag if that is longer)
    slowest = timescales_at(its, tau)[0] / micro.dt
    ck_lag = int(max(tau, min(round(slowest / 4), int(micro.lengths.max()) // 10))) if np.isfinite(slowest) else tau
    ck = lagmod.ck_test(list(micro.trajs), ck_lag, min(space.n_states, MAX_CK_SETS), n_states=micro.n_states,
                        dt=micro.dt)
    seconds["msm"] = time.perf_counter() - t - seconds["states"]
    print("choices (override any of them; see --help):")
    for k, c in choices.items():
        _print_choice(k, c)
    print("self-checks of the state space (the verdict counts only when they pass):")
    for c in checks.checks:
        print(f"  {'pass' if c.passed else 'FAIL'}  {c.title}: {c.finding}")
    for c in checks.info:
        print(f"  info  {c.title}: {'met' if c.passed else 'NOT met'}; {c.finding}")
    return States(choices, red, micro, km, its, ms, dwell_scan, space, ck, checks, notes, trials, seconds, dropped)


def self_checks(micro: StateSpace, its, choices: dict, space: StateSpace, ms, dropped=(), *, seed: int = 0,
                n_samples: int = 20) -> SelfChecks:
    """The self-checks of the state space ``space`` (the labels the model learns) made from ``micro``.

    Verdict checks: the implied timescales converged at the lag (:func:`check_its`); the populations agree with
    PCCA+ (:func:`check_populations`, not with ``--keep-states``: no PCCA+); and on the held-out part (the test
    trajectories of the protocol's split with ``seed``, :func:`held_out`), with criteria the choice of the
    states did not use: the CK test of the chosen states (:func:`check_ck_heldout`) and their slowest implied
    timescale against the microstates' (:func:`check_timescale_heldout`, not with ``--keep-states``: the states
    are the microstates). Information only (they chose the core threshold): :func:`check_relaxation`,
    :func:`check_cores`. ``ms``: the metastable states (``None`` with ``--keep-states``); ``dropped``: the
    microstate trajectories left out of ``space``."""
    tau = choices["lag"].value
    kept = [i for i in range(micro.n_traj) if i not in set(dropped)]
    h = held_out(space, micro, kept, seed=seed)
    given_lag = choices["lag"].rule == "given"
    checks = [check_its(its, tau, given=given_lag)]
    if ms is not None:
        checks.append(check_populations(space, ms))
    reach = msm_slowest(its, tau)[0] / micro.dt  # the CK test reaches the slowest timescale, where memory shows
    checks.append(check_ck_heldout(h, space.n_states, tau, space.dt, reach=reach,
                                   advice=_ck_advice(choices, ms is None), seed=seed))
    if ms is not None:
        checks.append(check_timescale_heldout(h, space.n_states, micro.n_states, tau, space.dt, n_samples=n_samples,
                                              seed=seed, advice=_timescale_advice(choices)))
    info = [] if ms is None else [  # with --keep-states no rule chose the states: nothing to show
        check_relaxation(slowest_relaxation(space.trajs, space.n_states, space.dt), msm_slowest(its, tau),
                         space.n_states),
        check_cores(micro, ms)]
    return SelfChecks(checks, info)


def _ck_advice(choices: dict, kept: bool) -> str:
    """What to try when the held-out CK test fails, in options the user has not already fixed."""
    tips = ["a longer lag (--lag)" if choices["lag"].rule != "given" else f"another lag than --lag {choices['lag'].value}"]
    if kept:
        tips.append("fewer, coarser labels, or drop --keep-states and let analyze lump them")
    elif choices["n_macro"].rule != "given":
        tips.append("fewer states (--n-macro 2: the slowest process alone)")
    else:
        tips.append(f"another number of states than --n-macro {choices['n_macro'].value}")
    tips.append("longer or more trajectories")
    return "; ".join(tips)


def _timescale_advice(choices: dict) -> str:
    tips = []
    th = choices.get("core_threshold")
    tips.append("let analyze choose the core threshold (drop --core-threshold)" if th is not None and th.rule == "given"
                else "a core threshold of your own (--core-threshold, in (0.5, 1))")
    tips.append(f"another number of states than --n-macro {choices['n_macro'].value}"
                if choices["n_macro"].rule == "given" else "another number of states (--n-macro)")
    tips.append("with labels you made on purpose, --labels --keep-states")
    return "; ".join(tips)


def _kept_states(micro: StateSpace, inputs: Inputs, choices: dict) -> StateSpace:
    """``--keep-states``: the given labels are the states the model learns, each its own set (named by its label
    in the input), with no PCCA+, no cores and no coring."""
    original = micro.made_by.get("original_labels") or list(range(micro.n_states))
    names = [str(v) for v in original]
    choices["n_macro"] = Choice(micro.n_states, "the given labels, kept as they are (--keep-states)")
    choices["min_dwell"] = Choice(1, "the given labels, kept as they are (--keep-states): no coring")
    return replace(micro, sets=tuple(np.array([k]) for k in range(micro.n_states)), set_names=names, kind="labels")


def run(inputs: Inputs, *, profile: str = "quick", model: str = "lstm", seed: int = 0, device="auto",
        tica_lag=None, tica_dim=None, n_micro=None, lag=None, n_macro=None, core_threshold=None, min_dwell=None,
        seq_len=None, keep_states: bool = False, progress: bool = True) -> Analysis:
    """The whole method on read inputs (:func:`read_inputs`); each step's choice is printed.

    Inputs too short for the model's training windows under the evaluation protocol are refused before any work
    (:func:`check_length`, ``ValueError``). Then :func:`build_states` (``keep_states``: analyse label inputs as
    given), the language model on the metastable labels (:func:`learn`, with
    ``seq_len`` frames per training window, default the profile's), the transitions it gets wrong and the memory
    test. A step that fails raises :class:`AnalysisFailed` with the steps so far in ``partial`` (:class:`Partial`:
    which step, why, what to try), so that the caller can still write a report.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}; choose one of {tuple(PROFILES)}")
    _check_overrides(inputs, tica_lag=tica_lag, lag=lag, min_dwell=min_dwell, n_micro=n_micro, n_macro=n_macro,
                     tica_dim=tica_dim, core_threshold=core_threshold, seq_len=seq_len, keep_states=keep_states)
    check_length(inputs, profile=profile, seq_len=seq_len, seed=seed)
    st = build_states(inputs, profile=profile, seed=seed, device=device, tica_lag=tica_lag, tica_dim=tica_dim,
                      n_micro=n_micro, lag=lag, n_macro=n_macro, core_threshold=core_threshold, min_dwell=min_dwell,
                      keep_states=keep_states)
    done = Partial(inputs, profile, st.choices, st.its, list(st.notes), "", dict(st.seconds),
                   self_checks=st.self_checks, dropped=st.dropped, states=st, seed=seed)
    try:
        return _model_steps(st, done, model=model, seed=seed, device=device, seq_len=seq_len, progress=progress)
    except Exception as exc:
        raise _stopped(done, exc) from exc


def _model_steps(st: States, done: Partial, *, model: str, seed: int, device, seq_len, progress: bool) -> Analysis:
    """:func:`run`'s steps after the state space, recorded in ``done`` as they start (see :func:`_states`)."""
    tau = st.choices["lag"].value
    done.step = "language model"
    if st.dropped:  # the trajectories left out change the split: the labels must still hold a training window
        check_length(st.space.lengths, profile=done.profile, seq_len=seq_len, seed=seed,
                     what=f"the {st.space.n_traj} trajectories that visit a core ({st.space.lengths.min()}–"
                          f"{st.space.lengths.max()} frames)")
    t_learn = time.perf_counter()
    try:
        learned = learn(st.space, tau, model=model, profile=done.profile, seed=seed, device=device, seq_len=seq_len,
                        progress=progress)
    except ValueError as exc:
        if "connected set" not in str(exc):
            raise
        # an MSM of the training or test part (the baselines, the reference) found no transition between states
        raise AnalysisFailed(str(exc), advice=(
            "the learned states hold too few transitions between them in the training or the test part for an "
            "MSM: longer or more trajectories, fewer states (--n-macro), or features that separate the wells; "
            "the self-checks above say whether these states are worth learning")) from exc
    done.seconds["learn"] = time.perf_counter() - t_learn
    done.step = "transitions and memory"
    te = transitions(st.space, learned, tau)
    mt = history_test(st.space)
    print("memory:", mt if isinstance(mt, str) else mt.sentence)
    steps = {f.name: getattr(st, f.name) for f in fields(States)} | {"seconds": done.seconds}
    a = Analysis(**steps, inputs=done.inputs, profile=done.profile, model=model, seed=seed, learned=learned,
                 transitions=te, memory=mt, seq_len=train_config(done.profile, seq_len).seq_len)
    done.step = "verdict"
    print(a.metrics()["verdict"]["summary"])
    return a



# ---------------------------------------------------------------------------------------------
# Report files
# ---------------------------------------------------------------------------------------------


def _states_arrays(st: States, inputs: Inputs, split) -> dict:
    """The arrays of ``states.npz``: per input trajectory, its labels, microstates and part of the split."""
    kept = [i for i in range(len(inputs.data)) if i not in set(st.dropped)]
    arrays = {}
    for i, n in enumerate(inputs.lengths):
        arrays[f"micro_{i}"] = np.asarray(st.micro.trajs[i], dtype=np.int64)
        arrays[f"states_{i}"] = np.full(int(n), -1, dtype=np.int64)
        arrays[f"part_{i}"] = np.zeros(int(n), dtype=np.int8)
    for k, i in enumerate(kept):
        arrays[f"states_{i}"] = np.asarray(st.space.trajs[k], dtype=np.int64)
    for part, pieces, source, start in ((1, split.train, split.train_source, split.train_start),
                                        (2, split.test, split.test_source, split.test_start)):
        for t, k, a in zip(pieces, source, start):
            arrays[f"part_{kept[k]}"][a:a + len(t)] = part
    original = st.micro.made_by.get("original_labels")
    arrays |= {"sources": np.array(inputs.sources, dtype=str), "set_names": np.array(st.space.set_names, dtype=str),
               "dt": np.float64(inputs.dt), "dt_unit": np.array(inputs.dt_unit, dtype=str),
               "original_labels": np.asarray(original if original is not None else np.arange(st.micro.n_states),
                                             dtype=np.int64)}
    return arrays


def _save_outputs(a: Analysis | Partial, folder: Path) -> list[str]:
    """Save :data:`OUTPUT_FILES` (those that exist for ``a``) into ``folder``; their names."""
    if isinstance(a, Partial):
        if a.states is None:
            return []
        split = train_test_split(list(a.states.space.trajs), seed=a.seed)  # the protocol's split, as the model's
        np.savez_compressed(folder / "states.npz", **_states_arrays(a.states, a.inputs, split))
        return ["states.npz"]
    res, space = a.learned.result, a.space
    np.savez_compressed(folder / "states.npz", **_states_arrays(a, a.inputs, res.split))
    gen = {f"lm_{j}": np.asarray(g, dtype=np.int64) for j, g in enumerate(res.generated)}
    gen |= {f"msm_{j}": np.asarray(g, dtype=np.int64) for j, g in enumerate(res.baseline)}
    tau = a.choices["lag"].value
    np.savez_compressed(folder / "generated.npz", **gen, set_names=np.array(space.set_names, dtype=str),
                        dt=np.float64(space.dt), msm_dt=np.float64(space.dt * tau),
                        dt_unit=np.array(space.dt_unit, dtype=str))
    save_checkpoint(folder / "model.pt", res.model, n_states=int(space.n_states), set_names=list(space.set_names),
                    dt=float(space.dt), dt_unit=str(space.dt_unit), lag=int(tau),
                    seq_len=int(a.seq_len or train_config(a.profile).seq_len))
    return list(OUTPUT_FILES)


def write_report(a: Analysis | Partial, out) -> Path:
    """Write ``report.html`` and ``metrics.json`` into ``out``, and the files to reuse (:data:`OUTPUT_FILES`:
    ``states.npz``, ``generated.npz``, ``model.pt``; for a :class:`Partial`, ``states.npz`` when the states were
    formed); they appear only when all are complete (written to a temporary folder, then moved).

    ``a``: a finished :class:`Analysis`, or the :class:`Partial` steps of one that stopped
    (:attr:`AnalysisFailed.partial`), whose report says why, with the choices and the implied timescales.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    m = a.metrics()
    page = partial_report_html(a, out=str(out)) if isinstance(a, Partial) else report_html(a, m, out=str(out))
    metrics = json.dumps(m, indent=1, allow_nan=False, default=float)
    with tempfile.TemporaryDirectory(dir=out, prefix=".partial-") as tmp:
        saved = _save_outputs(a, Path(tmp))
        (Path(tmp) / "report.html").write_text(page, encoding="utf-8")
        (Path(tmp) / "metrics.json").write_text(metrics, encoding="utf-8")
        for name in saved + ["metrics.json", "report.html"]:
            os.replace(Path(tmp) / name, out / name)
    return out / "report.html"
