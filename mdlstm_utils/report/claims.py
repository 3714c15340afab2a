"""The claim record of one executed notebook run: its question, numbers, verdict, conditions and source.

A notebook's ``metrics.json`` already holds everything the record needs, so the record is read from it, not
written a second time:

* the ``headline`` its closing cell writes with :func:`mdlstm_utils.runtime.headline`: the question, the key
  numbers as the run formatted them (``{"label", "value"}``, the value a string such as ``"4% ± 1% (sd, 3
  seeds)"``), the verdict of :func:`mdlstm_utils.runtime.verdict` and the headline figure;
* the ``environment`` of :func:`mdlstm_utils.runtime.environment_info`: commit, uncommitted changes, date,
  machine, wall time, software;
* its settings: ``profile``, ``seed`` / ``seeds`` / ``n_seeds`` and the sizes of :data:`CONDITION_KEYS`.

:meth:`Claim.from_metrics` turns them into one typed :class:`Claim`; ``make results``
(:mod:`mdlstm_utils.report.results`) assembles ``docs/RESULTS.md`` and the README's headline table from the claims
of the runs in ``docs/results/``. Deriving the record when reading keeps one copy of each fact (a ``claim`` key
beside ``headline`` could disagree with it), needs no change to the notebooks, and works on every run that has a
``headline``. A number's ``value``, ``low`` and ``high`` (floats) are filled where a headline entry gives them
(keys ``estimate``, ``low``, ``high``); today's notebooks give the text only, with its spread written into it.

>>> m = {"notebook": "01_toy_potentials", "profile": "full", "seed": 0,
...      "headline": {"question": "Does it learn?", "numbers": [{"label": "MFPT error", "value": "4%"}],
...                   "verdict": "met: MFPTs", "figure": "mfpt.png"},
...      "environment": {"commit": "0123abc", "commit_dirty": False, "device": "cpu", "wall_seconds": 61.5}}
>>> c = Claim.from_metrics(m, "01_toy_potentials")
>>> c.numbers[0].text, c.conditions, c.source.vintage
('4%', {'profile': 'full', 'seed': 0}, '0123abc')
>>> Claim.from_dict(c.to_dict()) == c
True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["CONDITION_KEYS", "Claim", "ClaimNumber", "MissingClaimError", "Source", "conditions_of", "read_claim"]

#: the settings of a run a reader needs to compare two runs, in this order, where its metrics record them
CONDITION_KEYS = ("profile", "seed", "seeds", "n_seeds", "n_runs", "n_bins", "n_states", "n_micro", "dim", "kT",
                  "temperature_K", "total_ns", "saving_interval", "base_interval", "msm_lag", "msm_lag_ps",
                  "core_threshold", "core_radius")
#: the packages whose versions the source names
SOFTWARE = ("torch", "deeptime", "openmm")


class MissingClaimError(ValueError):
    """A run's metrics hold no claim record: no ``headline`` of the shape :func:`mdlstm_utils.runtime.headline` writes.

    ``reason`` says what is missing, without the notebook's name.
    """

    def __init__(self, notebook: str, reason: str):
        super().__init__(f"{notebook}: no claim record: {reason}; re-run the notebook to record one")
        self.notebook, self.reason = notebook, reason


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _scalar_or_list(v) -> bool:
    scalar = (int, float, str, bool)
    return isinstance(v, scalar) or (isinstance(v, list) and bool(v) and all(isinstance(x, scalar) for x in v))


@dataclass(frozen=True)
class ClaimNumber:
    """One key number of a claim: ``text`` as the run formatted it; ``value``, ``low``, ``high`` where given."""

    label: str
    text: str
    value: float | None = None
    low: float | None = None
    high: float | None = None

    @classmethod
    def from_headline(cls, entry: dict) -> ClaimNumber:
        """From one entry of a headline's ``numbers`` (``{"label", "value"}``, optional ``estimate``/``low``/``high``)."""
        return cls(str(entry["label"]), str(entry["value"]), _number(entry.get("estimate")),
                   _number(entry.get("low")), _number(entry.get("high")))


@dataclass(frozen=True)
class Source:
    """Where a run's numbers came from, as its ``environment`` record says; ``None``: not recorded."""

    commit: str | None = None
    dirty: bool | None = None
    date: str | None = None
    device: str | None = None
    device_name: str | None = None
    cpu_count: int | None = None
    torch_threads: int | None = None
    wall_seconds: float | None = None
    software: dict = field(default_factory=dict)  # {"python": "3.11.7", "torch": "2.13.0+cpu", ...}

    @classmethod
    def from_metrics(cls, metrics: dict | None) -> Source:
        metrics = metrics if isinstance(metrics, dict) else {}
        env = metrics.get("environment") if isinstance(metrics.get("environment"), dict) else {}
        pk = env.get("packages") if isinstance(env.get("packages"), dict) else {}
        software = {"python": env["python"]} if env.get("python") else {}
        software.update({name: pk[name] for name in SOFTWARE if pk.get(name)})
        commit = env.get("commit") if isinstance(env.get("commit"), str) and env.get("commit") else None
        return cls(commit, env.get("commit_dirty"), metrics.get("date") or env.get("date") or env.get("timestamp"),
                   env.get("device"), env.get("device_name"), env.get("cpu_count"), env.get("torch_threads"),
                   env.get("wall_seconds"), software)

    @property
    def vintage(self) -> str | None:
        """The commit that names the code of the numbers: the recorded commit when the code was clean, else ``None``."""
        return None if self.commit is None or self.dirty else self.commit


def conditions_of(metrics: dict, extra: dict | None = None) -> dict:
    """The run's settings of :data:`CONDITION_KEYS` that its metrics record (scalars and lists of them), then
    ``extra`` (a headline's own ``conditions``)."""
    out = {k: metrics[k] for k in CONDITION_KEYS if _scalar_or_list(metrics.get(k))}
    return {**out, **(extra or {})}


def _headline(metrics: dict, notebook: str) -> dict:
    h = metrics.get("headline")
    why = None
    if h is None:
        why = "its metrics have no 'headline' (the run predates the claim record)"
    elif not isinstance(h, dict):
        why = f"its 'headline' is {type(h).__name__} {h!r}, not the dict runtime.headline writes"
    elif not isinstance(h.get("question"), str) or not isinstance(h.get("verdict"), str) \
            or not isinstance(h.get("numbers"), list) \
            or not all(isinstance(e, dict) and "label" in e and "value" in e for e in h["numbers"]):
        why = "its 'headline' lacks a question, a verdict or numbers of {'label', 'value'}"
    if why:
        raise MissingClaimError(notebook, why)
    return h


@dataclass(frozen=True)
class Claim:
    """What one executed notebook run claims, with its numbers, the conditions it holds under and its source."""

    notebook: str
    question: str
    numbers: tuple[ClaimNumber, ...]
    verdict: str
    figure: str | None
    conditions: dict
    source: Source

    @classmethod
    def from_metrics(cls, metrics: dict, notebook: str) -> Claim:
        """The claim of a run from its ``metrics.json`` dict; :class:`MissingClaimError` when it records none."""
        h = _headline(metrics, notebook)
        extra = h.get("conditions") if isinstance(h.get("conditions"), dict) else None
        return cls(notebook, h["question"], tuple(ClaimNumber.from_headline(e) for e in h["numbers"]), h["verdict"],
                   h.get("figure"), conditions_of(metrics, extra), Source.from_metrics(metrics))

    def to_dict(self) -> dict:
        """JSON-ready: ``numbers`` a list of dicts, ``source`` a dict."""
        d = asdict(self)
        d["numbers"] = [asdict(n) for n in self.numbers]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Claim:
        return cls(d["notebook"], d["question"], tuple(ClaimNumber(**n) for n in d["numbers"]), d["verdict"],
                   d.get("figure"), dict(d.get("conditions") or {}), Source(**(d.get("source") or {})))


def read_claim(path: str | Path, notebook: str | None = None) -> Claim:
    """The claim of a ``metrics.json`` file; ``notebook`` defaults to its ``"notebook"`` key, else its folder's name."""
    path = Path(path)
    metrics = json.loads(path.read_text())
    return Claim.from_metrics(metrics, notebook or metrics.get("notebook") or path.parent.name)
