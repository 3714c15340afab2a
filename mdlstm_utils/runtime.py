"""Run-time context: device choice, seeding and a record of the environment.

Every notebook and every heavy function of the package goes through these three
helpers, so that ``device="auto"`` and ``seed=...`` mean the same thing
everywhere and each metrics dict says what it ran on. A notebook opens with
:func:`start` (its parameters checked, its profile's settings, the device and the
seed in one :class:`Lesson`) and closes with :meth:`Lesson.finish` (verdict,
headline, environment and ``metrics.json``), so that the scaffolding every
notebook shares is written once, here. :func:`start` also refuses a parameter
that papermill injected but the notebook does not declare (``-p sede 1``), and
shows every refused parameter as one line (:class:`ParameterError`), whatever
runs the notebook.
"""

from __future__ import annotations

import ast
import datetime
import difflib
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "resolve_device", "seed_everything", "environment_info", "code_version", "select_profile", "check_parameters",
    "save_metrics", "save_figure", "verdict", "headline", "fmt", "seed_values", "seed_stats", "mean_sd",
    "Lesson", "start", "ParameterError", "ParameterTypeError", "check_injected_parameters",
]

_VALID_DEVICE_TYPES = ("cpu", "cuda", "mps")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn a device request into a :class:`torch.device`.

    Parameters
    ----------
    device
        ``"auto"`` (or ``None``) picks the first CUDA GPU when one is present
        and the CPU otherwise; ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a
        :class:`torch.device` are taken as they are, after checking that the
        machine has them.

    Raises
    ------
    ValueError
        For an unknown device string, or a CUDA/MPS device requested on a
        machine that has none.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device.strip().lower())
        except RuntimeError as exc:
            raise ValueError(
                f"device={device!r} is not a device name; expected 'auto', 'cpu', 'cuda' or 'cuda:N'"
            ) from exc
    else:
        raise TypeError(
            f"device must be a string or torch.device, got {type(device).__name__} ({device!r})"
        )
    if dev.type not in _VALID_DEVICE_TYPES:
        raise ValueError(f"device={device!r} is not supported; expected 'auto', 'cpu' or 'cuda[:N]'")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but this machine has no CUDA GPU; use 'auto' or 'cpu'"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) are present"
            )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} was requested but MPS is not available on this machine")
    return dev


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's, NumPy's and torch's global generators; return a NumPy ``Generator``.

    Functions of this package take their own ``seed`` argument and build local
    generators from it; this helper is for notebook-level code that uses the
    global ones.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r})")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    return np.random.default_rng(int(seed))


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# the code that computes the numbers: a change here (not yet committed) makes a run's commit an incomplete record
_CODE_PATHS = ("mdlstm_utils", "notebooks", "data", "pyproject.toml", "requirements.txt")


def code_version() -> dict:
    """The git commit of the checkout this package is imported from: ``{"commit": sha, "commit_dirty": bool}``.

    ``commit_dirty`` is true when tracked files that compute the numbers (``mdlstm_utils/``, ``notebooks/``,
    ``data/``, ``pyproject.toml``, ``requirements.txt``) differ from the commit; edits elsewhere (the README, the
    docs) do not change a result and are not counted. Both are ``None`` when there is no git, the package is not
    imported from a git checkout (an installed copy), or git fails: the record then says the commit is unknown
    rather than naming the wrong one. Two git calls of a few milliseconds.
    """
    unknown = {"commit": None, "commit_dirty": None}
    pkg = Path(__file__).resolve().parent
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=pkg, capture_output=True, text=True,
                             timeout=10)
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != pkg.parent:
            return unknown  # not a checkout of this repository (e.g. site-packages inside some other repo)
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=pkg.parent, capture_output=True, text=True, timeout=10)
        st = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *_CODE_PATHS],
                            cwd=pkg.parent, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return unknown
    if sha.returncode != 0 or st.returncode != 0 or not sha.stdout.strip():
        return unknown
    return {"commit": sha.stdout.strip(), "commit_dirty": bool(st.stdout.strip())}


def _process_seconds() -> float | None:
    """Seconds since this process started: a notebook's wall time so far when papermill runs it in a fresh kernel."""
    try:
        import psutil  # a dependency of ipykernel, so present wherever a notebook runs

        return round(time.time() - psutil.Process().create_time(), 1)
    except Exception:  # noqa: BLE001 - no psutil or no access: the wall time is then not recorded
        return None


def environment_info(device: str | torch.device | None = "auto") -> dict:
    """What a run ran on, from which code, when and how long: date, commit, wall time, package versions, Python,
    platform, device name, thread and core count.

    Notebooks put this dict into their metrics (in their last cells), so a result can be traced to its code and
    environment months later; ``make results`` writes it into ``docs/RESULTS.md``. ``commit`` and ``commit_dirty``
    come from :func:`code_version` (``None``: unknown). ``wall_seconds`` is the age of the process when this is
    called: for a notebook run headless (``make run``, papermill: one fresh kernel per notebook) its wall time up to
    the metrics cell; in an interactive session it includes the idle time, so read it only for headless runs.
    """
    dev = resolve_device(device)
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        **code_version(),
        "wall_seconds": _process_seconds(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "packages": {
            name: _version(name)
            for name in ("mdlstm_utils", "torch", "numpy", "scipy", "deeptime", "mdtraj", "openmm")
        },
    }
    return info


PROFILES = ("smoke", "quick", "full")
"""The notebooks' profiles: ``smoke`` checks in seconds that everything runs (CI and ``make test`` pass it
explicitly; numbers meaningless), ``quick`` is the default of every notebook's parameters cell and of ``make run``
(the whole suite in minutes on a laptop, each lesson visible in its numbers: what a learner who opens a notebook
in JupyterLab runs), ``full`` gives the reference results of ``docs/RESULTS.md``."""


def select_profile(profile: str, **options: dict) -> dict:
    """Pick the settings of a notebook's ``profile`` from per-profile dicts.

    ``select_profile("smoke", smoke={...}, full={...})`` returns the ``smoke``
    dict; an unknown or mistyped profile raises an error that lists the choices.
    """
    if not isinstance(profile, str):
        raise TypeError(f"profile must be a string, one of {sorted(options)}; got {type(profile).__name__} ({profile!r})")
    if profile not in options:
        raise ValueError(f"profile={profile!r} is not one of {sorted(options)}")
    return dict(options[profile])


def jsonable(obj):
    """``obj`` with NumPy arrays, scalars and tuples turned into plain lists and numbers (dict keys into strings),
    so that :mod:`json` writes it; NaN and infinity become ``None``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def save_metrics(metrics: dict, out_dir: str | os.PathLike | None, name: str = "metrics.json") -> dict:
    """Make ``metrics`` JSON-ready (NumPy -> lists, nan/inf -> None); write it atomically to ``out_dir``.

    With ``out_dir=None`` nothing is written. Returns the JSON-ready dict.
    """
    clean = jsonable(metrics)
    if out_dir is not None:
        path = Path(out_dir) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(clean, indent=2, allow_nan=False))
        os.replace(tmp, path)
    return clean


def save_figure(fig, out_dir: str | os.PathLike | None, name: str) -> None:
    """Save a matplotlib figure as ``out_dir/name.png`` (nothing when ``out_dir`` is None)."""
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(out_dir) / f"{name}.png", dpi=120, bbox_inches="tight")


def check_parameters(**params: tuple) -> None:
    """Check notebook parameters' types: ``check_parameters(seed=(seed, int), out_dir=(out_dir, (str, type(None))))``.

    Papermill passes ``-p name value`` as a typed Python literal, so a value of
    the wrong kind (``-p seed one``) would otherwise fail later with a confusing
    message. Booleans are not accepted where an int is expected; an int is
    accepted where a float is expected.
    """
    for name, spec in params.items():
        if not (isinstance(spec, tuple) and len(spec) == 2):
            raise TypeError(f"check_parameters({name}=...) expects a (value, type) pair")
        value, expected = spec
        types = expected if isinstance(expected, tuple) else (expected,)
        if float in types:
            types = types + (int,)
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            shown = expected if isinstance(expected, tuple) else (expected,)
            names = " or ".join("None" if t is type(None) else t.__name__ for t in shown)
            raise TypeError(f"notebook parameter {name}={value!r} has type {type(value).__name__}; expected {names}")


#: The largest relative error of a slow-process number (MFPT, slowest timescale) that counts as
#: learned, per profile. ``full`` holds the suite's claim; ``quick`` trains about ten times less
#: (minutes on two CPU cores) and is judged at twice the tolerance; ``smoke`` is not judged.
MFPT_TOLERANCE = {"smoke": 0.25, "quick": 0.50, "full": 0.25}


def mfpt_tolerance(profile: str) -> float:
    """The profile's tolerance for a slow-process error (:data:`MFPT_TOLERANCE`)."""
    if profile not in MFPT_TOLERANCE:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    return MFPT_TOLERANCE[profile]


def verdict(profile: str, checks: dict[str, bool | None]) -> str:
    """One line that judges a notebook's targets: ``"met: a, b; not met: c"``.

    ``checks`` maps a target's name to whether it was met (``None``: not
    answerable here, left out). The ``smoke`` profile trains far too briefly
    for any target to mean something, so it is not judged at all.
    """
    if profile == "smoke":
        return "not judged: the smoke profile only checks that the notebook runs"
    met = [k for k, v in checks.items() if v is not None and bool(v)]  # numpy booleans count as booleans
    missed = [k for k, v in checks.items() if v is not None and not bool(v)]
    parts = ([f"met: {', '.join(met)}"] if met else []) + ([f"not met: {', '.join(missed)}"] if missed else [])
    return "; ".join(parts) or "no target answered"


def headline(question: str, numbers: dict[str, str], verdict: str, figure: str | None = None) -> dict:
    """The summary a notebook puts under ``"headline"`` in its metrics: what the landing page shows.

    ``question``: the notebook's question in one line; ``numbers``: its key
    numbers as ``{label: formatted value with unit and spread}``; ``verdict``:
    from :func:`verdict`; ``figure``: the file name (in ``out_dir``) of its
    headline figure, without the folder.
    """
    if not question or "\n" in question:
        raise ValueError("question must be one non-empty line")
    return {"question": question, "numbers": [{"label": k, "value": str(v)} for k, v in numbers.items()],
            "verdict": verdict, "figure": figure}


def fmt(value, spec: str | None = None) -> str:
    """One number as a reader sees it, in headlines, tables, ``docs/RESULTS.md`` and the README.

    With ``spec``: ``format(value, spec)`` (``fmt(0.1234, ".0%")`` -> ``"12%"``). Without: the results rule, so
    that no number is written with more digits than it has meaning: an integer as it is (``72``), a float with
    ``|x| >= 100`` rounded to an integer (``1503.7`` -> ``"1504"``), any other float with three significant digits
    (``0.054871`` -> ``"0.0549"``, ``1.0`` -> ``"1"``). Always: ``None`` and ``nan`` (no value) read ``"–"``,
    infinity (an error whose passage was never generated) ``"inf"``, booleans ``yes`` / ``no``; anything else
    is written with ``str``.
    """
    if value is None or isinstance(value, str):
        return "–" if value is None else value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)) and spec is None:
        return str(int(value))
    if not isinstance(value, (int, float, np.integer, np.floating)):
        return str(value)
    x = float(value)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if spec is not None:
        return format(x, spec)
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def seed_values(values) -> np.ndarray:
    """Errors over seeds (a sequence, or one number) as a float array; ``None`` (a passage never generated) becomes ``inf``."""
    values = np.atleast_1d(np.asarray(values, dtype=object))
    return np.array([np.inf if v is None else float(v) for v in values], dtype=float)


def mean_sd(values, spec: str = ".2f", *, what: str = "seeds") -> str:
    """The mean over seeds with its spread, for a headline: ``"23% ± 4% (sd, 3 seeds)"``.

    One value is written alone (there is no spread to show); ``None`` or ``inf`` among
    the values makes the mean ``"inf"``, and its spread is then not written. The sample
    standard deviation (``ddof=1``) is the spread.
    """
    v = seed_values(values)
    mean, sd = seed_stats(v)
    if not np.isfinite(mean):
        return fmt(float("inf"), spec)
    return fmt(mean, spec) if v.size == 1 else f"{fmt(mean, spec)} ± {fmt(sd, spec)} (sd, {v.size} {what})"


def seed_stats(values) -> tuple[float, float]:
    """Mean over seeds and the sample sd (``ddof=1``) of errors, as in :func:`mean_sd`: the mean is ``inf``
    when a seed's error is ``None`` or ``inf``; the sd is ``nan`` then, and for a single value."""
    v = seed_values(values)
    if v.size == 0:
        raise ValueError("needs at least one value")
    mean = float(v.mean())
    return mean, float(v.std(ddof=1)) if v.size > 1 and np.isfinite(mean) else float("nan")


class _OneLine:
    """Mixin: IPython shows the exception as one line, ``Name: message``, instead of a traceback.

    IPython (JupyterLab, and the kernel papermill drives) renders an exception that has ``_render_traceback_``
    by what that method returns. For a refused notebook parameter the frames inside this module say nothing
    about what to change, and the message alone does, so the learner and the papermill log read just it.
    Outside IPython (plain Python, pytest) the exception is an ordinary one.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class ParameterError(_OneLine, ValueError):
    """A notebook parameter that the notebook does not declare, or whose value is not allowed (a ``ValueError``)."""


class ParameterTypeError(_OneLine, TypeError):
    """A notebook parameter of the wrong type (a ``TypeError``)."""


#: The first line of the cell papermill injects after a notebook's ``parameters`` cell (``# Parameters``, then one
#: ``name = value`` line per ``-p name value``); the notebooks' own parameters cells start with a longer comment.
PAPERMILL_COMMENT = "# Parameters"

#: Names papermill itself injects with ``--inject-paths`` (and the two ``--inject-*-path``), declared by no notebook.
PAPERMILL_NAMES = frozenset({"PAPERMILL_INPUT_PATH", "PAPERMILL_OUTPUT_PATH"})


def _first_line(source: str) -> str:
    return source.strip().split("\n", 1)[0].strip()


def _is_injected(source: str) -> bool:
    return _first_line(source) == PAPERMILL_COMMENT


def _assigned_names(source: str) -> list[str] | None:
    """The names a cell assigns at its top level (``a = 1``, ``a, b = 1, 2``, ``a: int = 1``), in order;
    ``None`` when the cell is not Python (IPython ``%``/``!`` lines are left out first)."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return None

    def names(target: ast.expr) -> list[str]:
        if isinstance(target, ast.Name):
            return [target.id]
        if isinstance(target, (ast.Tuple, ast.List)):
            return [n for elt in target.elts for n in names(elt)]
        if isinstance(target, ast.Starred):
            return names(target.value)
        return []  # d["k"] = ..., obj.attr = ...: not a new name

    out = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        else:
            targets = [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            out.extend(n for n in names(t) if n not in out)
    return out


def _kernel_history() -> list[str]:
    """The sources of the cells this IPython kernel has executed, oldest first; ``[]`` outside IPython.

    IPython is not imported here: when it is not loaded already, this is not a kernel.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is None:
        return []
    history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    if history is None:
        history = shell.user_ns.get("In", [])
    return [s for s in history if isinstance(s, str)]


def check_injected_parameters(history: list[str] | None = None) -> list[str]:
    """Refuse a parameter that papermill injected but the notebook's ``parameters`` cell does not declare.

    Papermill only warns about an unknown name (``papermill nb.ipynb out.ipynb -p sede 1``: "Passed unknown
    parameter: sede") and runs the whole notebook with the default ``seed``; this check makes such a run stop in
    its first seconds. It reads the kernel's input history (``history``: the executed cells' sources, oldest
    first; by default this IPython kernel's, and nothing outside IPython, so the check is a no-op in plain Python
    and in a notebook that papermill did not parameterize): the latest cell papermill injected (first line
    ``# Parameters``) is compared with the notebook's own parameters cell, the latest cell before it whose first
    line starts with ``# Parameters`` and says more (every notebook of the suite writes ``# Parameters
    (papermill overrides these) ...``), or else the cell executed just before it (papermill puts its cell right
    after the ``parameters`` cell). Names papermill adds itself (:data:`PAPERMILL_NAMES`) are allowed.

    Returns the names the injected cell sets (``[]`` when there is none, or when a cell is not Python).

    Raises
    ------
    ParameterError
        One line naming the undeclared parameters, the closest declared names, and every declared one.
    """
    history = _kernel_history() if history is None else list(history)
    injected = [i for i, src in enumerate(history) if _is_injected(src)]
    if not injected:
        return []
    last = injected[-1]
    before = [src for src in history[:last] if src.strip() and not _is_injected(src)]
    own = [src for src in before if _first_line(src).startswith(PAPERMILL_COMMENT)]
    declared_cell = own[-1] if own else before[-1] if before else None
    given = _assigned_names(history[last])
    declared = _assigned_names(declared_cell) if declared_cell is not None else None
    if given is None or declared is None:
        return given or []
    unknown = [n for n in given if n not in declared and n not in PAPERMILL_NAMES]
    if unknown:
        lowered = {n.lower(): n for n in declared}  # kt -> kT: case is the commonest slip
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
            hints.append(f"{name} (did you mean {lowered[close[0]]}?)" if close else name)
        raise ParameterError(f"this notebook has no parameter {', '.join(hints)}; its parameters are: "
                             f"{', '.join(declared)}")
    return given


#: The parameters every notebook has, with the types papermill may pass for them (:func:`start` checks them).
STANDARD_PARAMETERS = {"profile": str, "device": str, "seed": int, "out_dir": (str, type(None))}

#: The keys :meth:`Lesson.finish` writes itself: a record keyword of the same name would be overwritten.
_FINISH_KEYS = ("notebook", "profile", "seed", "environment", "headline")


@dataclass(frozen=True, eq=False)
class Lesson:
    """What a notebook's opening decided, for its cells and its closing: made by :func:`start`.

    Every notebook opens the same way (check the parameters, pick the profile's settings, resolve the device,
    seed the global generators) and closes the same way (judge the targets, write the headline and the metrics
    with a record of the environment). A ``Lesson`` carries the opening's results to the closing,
    :meth:`finish`, so that ``metrics.json`` names the notebook, profile, seed and device the run used, and a
    notebook writes only what is its own: its settings, its numbers, its checks.

    Attributes
    ----------
    notebook
        The notebook's name as ``metrics.json`` records it (``"01_toy_potentials"``).
    profile, seed, out_dir
        The notebook's parameters, as given (``out_dir=None``: nothing is written).
    cfg
        The profile's settings (a copy of the dict given for ``profile``).
    device
        The :class:`torch.device`, resolved once; the package's functions take it as it is.
    rng
        The NumPy generator :func:`seed_everything` returned for ``seed``.
    started
        :func:`time.perf_counter` when the lesson started, for a notebook's own timings.
    """

    notebook: str
    profile: str
    seed: int
    out_dir: str | os.PathLike | None
    cfg: dict
    device: torch.device
    rng: np.random.Generator
    started: float

    def verdict(self, checks: dict[str, bool | None]) -> str:
        """The profile's verdict on ``checks`` (:func:`verdict`), for a notebook that prints or uses it before
        :meth:`finish`, which judges the same checks again."""
        return verdict(self.profile, checks)

    def save_figure(self, fig, name: str) -> None:
        """Save ``fig`` as ``out_dir/name.png`` (:func:`save_figure`; nothing when ``out_dir`` is None)."""
        save_figure(fig, self.out_dir, name)

    def finish(self, metrics: dict, *, question: str, numbers: dict[str, str], checks: dict[str, bool | None],
               figure: str | None = None, **record) -> dict:
        """Close the notebook: judge ``checks``, print the verdict, write ``metrics.json``; return what was written.

        Parameters
        ----------
        metrics
            The notebook's results. Not changed: the returned dict is a new one.
        question, numbers, figure
            The headline (:func:`headline`): the notebook's question in one line, its key numbers as
            ``{label: formatted value}``, the file name of its headline figure in ``out_dir``.
        checks
            ``{target: met}`` (``None``: not answerable here), judged by the profile (:func:`verdict`;
            ``smoke`` is not judged).
        **record
            More entries, added after ``metrics`` (the notebook's settings, its own errors). A profile
            setting ``n_seeds`` is recorded too, unless ``seeds`` or ``n_seeds`` is already there.

        Returns
        -------
        dict
            ``notebook``, ``profile`` and ``seed``, then ``metrics`` and ``record``, then ``environment``
            (:func:`environment_info` of the lesson's device) and ``headline``, made JSON-ready
            (:func:`save_metrics`) and written to ``out_dir/metrics.json`` when ``out_dir`` is given.

        Raises
        ------
        TypeError
            When ``record`` names an entry that ``finish`` writes itself (``notebook``, ``profile``, ``seed``,
            ``environment``, ``headline``).
        """
        clash = [k for k in _FINISH_KEYS if k in record]
        if clash:
            raise TypeError(f"finish() writes {', '.join(clash)} itself; do not pass them as record entries")
        judged = verdict(self.profile, checks)
        head = headline(question, numbers, judged, figure)
        print("verdict:", judged)
        out = {"notebook": self.notebook, "profile": self.profile, "seed": self.seed, **metrics, **record}
        if "n_seeds" in self.cfg and not {"seeds", "n_seeds"} & set(out):
            out["n_seeds"] = self.cfg["n_seeds"]  # how many seeds the numbers rest on, for the record's conditions
        out.update(notebook=self.notebook, profile=self.profile, seed=self.seed,  # a re-run cell may pass them back
                   environment=environment_info(self.device), headline=head)
        return save_metrics(out, self.out_dir)


def start(notebook: str, *, profile: str, device: str, seed: int, out_dir: str | None, params: dict | None = None,
          **profiles: dict) -> Lesson:
    """Open a notebook: check its parameters, pick its profile's settings, resolve the device, seed; once.

    ``lesson = runtime.start("01_toy_potentials", profile=profile, device=device, seed=seed, out_dir=out_dir,
    params=dict(n_bins=(n_bins, int)), smoke=dict(...), quick=dict(...), full=dict(...))``: the opening every
    notebook shares, in one call, so that a wrong parameter fails before any work and every later cell uses the
    same device and seed.

    Parameters
    ----------
    notebook
        The notebook's name, as :meth:`Lesson.finish` records it.
    profile, device, seed, out_dir
        The four parameters every notebook has (:data:`STANDARD_PARAMETERS`): ``profile`` a string (one of the
        ``profiles`` given), ``device`` a string (:func:`resolve_device`), ``seed`` an int >= 0, ``out_dir`` a
        string or None.
    params
        The notebook's own parameters as ``{name: (value, type)}``, checked like the four
        (:func:`check_parameters`).
    **profiles
        One dict of settings per profile (``smoke=..., quick=..., full=...``); the one named by ``profile``
        becomes :attr:`Lesson.cfg` (:func:`select_profile`).

    Raises
    ------
    ParameterTypeError
        (a ``TypeError``) For a parameter of the wrong type; the message names it.
    ParameterError
        (a ``ValueError``) For a parameter papermill injected that the notebook does not declare
        (:func:`check_injected_parameters`), an unknown profile (the message lists the choices), an unknown or
        absent device, or a negative seed. Both show as one line in a notebook, without a traceback.
    ValueError
        For ``params`` naming one of the four standard parameters (a mistake in the notebook, not in its use).
    """
    started = time.perf_counter()
    if not isinstance(notebook, str) or not notebook:
        raise TypeError(f"notebook must be the notebook's name, a non-empty string; got {notebook!r}")
    params = dict(params or {})
    standard = [k for k in STANDARD_PARAMETERS if k in params]
    if standard:
        raise ValueError(f"params names {', '.join(standard)}: start() checks the standard parameters itself")
    given = {"profile": profile, "device": device, "seed": seed, "out_dir": out_dir}
    try:  # every check of what the user passed, before any work: a refusal is one line (ParameterError)
        check_injected_parameters()
        check_parameters(**{k: (given[k], t) for k, t in STANDARD_PARAMETERS.items()}, **params)
        cfg = select_profile(profile, **profiles)
        dev = resolve_device(device)
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
    except (ParameterError, ParameterTypeError):
        raise
    except TypeError as exc:
        raise ParameterTypeError(str(exc)) from None
    except ValueError as exc:
        raise ParameterError(str(exc)) from None
    rng = seed_everything(seed)
    return Lesson(notebook=notebook, profile=profile, seed=seed, out_dir=out_dir, cfg=cfg, device=dev, rng=rng,
                  started=started)
