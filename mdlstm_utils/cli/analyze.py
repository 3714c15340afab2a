"""``mdlstm analyze``: the command line of the suite's whole method on your own trajectories, features or labels.

The method itself, its steps, the report and every name a notebook or a test reaches as ``analyze.<name>``
(``run``, ``build_states``, ``PROFILES``, ``read_inputs``, ``figure``, ...) live in
:mod:`~mdlstm_utils.cli.method` and its siblings; this module parses the arguments and then runs them. It
imports nothing heavy itself: torch, deeptime, mdtraj and matplotlib load with :mod:`~mdlstm_utils.cli.method`
only after the arguments are parsed, so that ``mdlstm analyze --help`` (and an error in the arguments) answers
at once instead of after seconds of imports. ``analyze.<name>`` loads that module on first use (:func:`__getattr__`).

Exit status: 0 with ``OUT/report.html`` and ``OUT/metrics.json`` written; 2 for input refused before any work
(a missing or unreadable file, a bad setting, trajectories too short for the model's windows; nothing written)
and for an analysis that stopped at a step (the two files then hold the steps so far, the step that failed, why,
and what to try).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
import warnings

__all__ = ["PROFILE_NAMES", "parser", "main", "cli"]

#: The profiles ``--profile`` offers, in the order listed: the keys of :data:`mdlstm_utils.cli.method.PROFILES`
#: (spelled out here so that parsing the arguments needs no heavy import; a test keeps the two equal).
PROFILE_NAMES = ("smoke", "quick", "full")

#: The module that holds the method (:mod:`mdlstm_utils.cli.method`), imported after the arguments are parsed.
METHOD = "mdlstm_utils.cli.method"


def _method():
    """The method's module, imported on first use: the one deferred import, so that ``--help`` stays fast."""
    return importlib.import_module(METHOD)


def __getattr__(name: str):
    """``analyze.run``, ``analyze.PROFILES``, ... : the method's names (:mod:`~mdlstm_utils.cli.method`, which
    re-exports its siblings' steps), loaded on first use."""
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return getattr(_method(), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(_method())))


def parser() -> argparse.ArgumentParser:
    """The arguments of ``mdlstm analyze``; every setting that a message of the method names is an option here."""
    p = argparse.ArgumentParser(
        prog="mdlstm analyze",
        description="Learn the kinetics of your own trajectories with a language model, beside an MSM baseline; "
                    "writes OUT/report.html and OUT/metrics.json.",
        epilog="Example: mdlstm analyze run1.xtc run2.xtc --top system.pdb --dt 1ps --out report/")
    p.add_argument("inputs", nargs="+", help="trajectory files (xtc, dcd, h5, nc, trr, pdb), .npy/.npz feature arrays, "
                                             "or label arrays with --labels")
    p.add_argument("--top", help="topology for trajectory files (default: topology.pdb beside each file)")
    p.add_argument("--features", default="torsions", choices=("torsions", "distances", "contacts"),
                   help="features of trajectory files: sin/cos of backbone and chi1 torsions, heavy-atom distances, "
                        "or C-alpha contacts (default: torsions)")
    p.add_argument("--labels", action="store_true", help="the inputs are already discretized state labels")
    p.add_argument("--keep-states", action="store_true",
                   help="with --labels: analyse the labels as given, each its own state for populations and MFPTs "
                        "(no PCCA+ lumping, cores or coring)")
    p.add_argument("--dt", default="1", help="time between frames with an optional unit: 1ps, 0.05, 2ns (default: 1)")
    p.add_argument("--out", required=True, help="folder for report.html and metrics.json, and the files to reuse: "
                                                 "states.npz (states per frame), generated.npz, model.pt")
    p.add_argument("--model", default="lstm", choices=("lstm", "transformer"))
    p.add_argument("--profile", default="quick", choices=PROFILE_NAMES,
                   help="smoke: checks that everything runs (seconds, not judged); quick: numbers worth reading "
                        "(minutes); full: the suite's full recipe (default: quick)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (a GPU when present), cpu or cuda")
    g = p.add_argument_group("override a rule")
    g.add_argument("--tica-lag", type=int, help="TICA lag in frames")
    g.add_argument("--tica-dim", type=int, help="TICA dimensions kept")
    g.add_argument("--n-micro", type=int, help="k-means microstates")
    g.add_argument("--lag", type=int, help="MSM lag in frames")
    g.add_argument("--n-macro", type=int, help="metastable states")
    g.add_argument("--core-threshold", type=float, help="PCCA+ membership of a core microstate, in (0.5, 1)")
    g.add_argument("--min-dwell", type=int, help="dynamical coring: minimum dwell in frames")
    g.add_argument("--seq-len", type=int, help="frames per training window of the language model; a trajectory "
                                                "must be longer than this (default: the profile's, 32 for smoke, "
                                                "50 otherwise)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _dt_value_joined(argv: list[str]) -> list[str]:
    """``--dt -1ps`` as ``--dt=-1ps``, so that a negative interval reaches the check of ``--dt``.

    argparse takes a value that starts with ``-`` and is not a plain number (``-1ps``, ``-0.5 ns``) for an
    option and answers "expected one argument"; joined to ``--dt`` it is read as its value, and
    :func:`read_inputs` then says that the time between frames must be > 0.
    """
    out, rest = [], list(argv)
    while rest:
        a = rest.pop(0)
        if a == "--":  # what follows is positional: left as it is
            return out + [a] + rest
        if a == "--dt" and rest and len(rest[0]) > 1 and rest[0][0] == "-" and rest[0][1] in "0123456789.":
            a = f"--dt={rest.pop(0)}"
        out.append(a)
    return out


def _stopped(exc, out) -> int:
    """An analysis that stopped at a step: say which, why and what to try, and write its partial report."""
    print(f"mdlstm analyze: error: {exc}", file=sys.stderr)
    p = exc.partial
    if p is None:
        return 2
    cause = exc.__cause__
    if cause is not None and not isinstance(cause, ValueError):  # not a refusal in words: keep the trace for a report
        traceback.print_exception(cause, file=sys.stderr)
    print(f"mdlstm analyze: stopped at the step '{p.step}'" + (f"; try: {p.advice}" if p.advice else ""),
          file=sys.stderr)
    path = _method().write_report(p, out)
    print(f"wrote the steps so far to {path} and {path.parent / 'metrics.json'}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """``mdlstm analyze ARGS``: parse, then (only then) import the method, read the inputs and run it.

    Returns the exit status (see the module's docstring)."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(_dt_value_joined(argv))
    with warnings.catch_warnings():
        # numpy's nan-functions warn when an estimate has no value at all (no passage, no resolved timescale); the
        # report says so ("–", "never made"), and the warning, with numpy's source line, only alarms the user
        warnings.filterwarnings("ignore", r"All-NaN (slice|axis) encountered|Mean of empty slice", RuntimeWarning)
        return _run(args)


def _run(args) -> int:
    """:func:`main` after parsing: import the method, read, run, write; the exit status."""
    m = _method()
    try:
        inputs = m.read_inputs(args.inputs, top=args.top, features=args.features, labels=args.labels, dt=args.dt,
                               max_frames=m.PROFILES[args.profile]["max_frames"])
        a = m.run(inputs, profile=args.profile, model=args.model, seed=args.seed, device=args.device,
                  tica_lag=args.tica_lag, tica_dim=args.tica_dim, n_micro=args.n_micro, lag=args.lag,
                  n_macro=args.n_macro, core_threshold=args.core_threshold, min_dwell=args.min_dwell,
                  seq_len=args.seq_len, keep_states=args.keep_states, progress=not args.no_progress)
    except m.AnalysisFailed as exc:
        return _stopped(exc, args.out)
    except (FileNotFoundError, ValueError, TypeError) as exc:  # refused before any work: nothing written
        print(f"mdlstm analyze: error: {exc}", file=sys.stderr)
        return 2
    path = m.write_report(a, args.out)
    print(f"wrote {path} and {path.parent / 'metrics.json'}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    """The ``mdlstm`` console script: ``mdlstm analyze ...``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: mdlstm analyze INPUT... --out OUT [options]\n\n"
              "commands:\n  analyze   the suite's method on your own trajectories (mdlstm analyze --help)")
        return 0 if argv else 2
    if argv[0] != "analyze":
        print(f"mdlstm: unknown command {argv[0]!r}; the command is 'analyze'", file=sys.stderr)
        return 2
    return main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
