"""The files of one simulation run (:func:`mdlstm_utils.data.md.simulate`): their names and the progress record.

Both the runner, which writes a run, and :func:`mdlstm_utils.data.md.load_trajectory`, which reads one (also a
run still in progress), use these names, so a run directory means the same thing to both.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["TRAJ_NAME", "TOPOLOGY_NAME", "PROGRESS_NAME", "XTC_MAGIC", "read_progress"]

TRAJ_NAME = "traj.xtc"
TOPOLOGY_NAME = "topology.pdb"
PROGRESS_NAME = "progress.json"
#: the first four bytes of every XTC frame
XTC_MAGIC = (1995).to_bytes(4, "big")


def read_progress(out_dir: Path) -> dict | None:
    """The progress record of the run in ``out_dir``, or ``None`` when it has none; a record that is not
    mdlstm's raises ``ValueError`` naming the file."""
    path = out_dir / PROGRESS_NAME
    if not path.is_file():
        return None
    try:
        prog = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a valid progress record of mdlstm_utils.data.md.simulate ({exc})") from exc
    if not isinstance(prog, dict) or prog.get("format") != "mdlstm-md" or "n_frames" not in prog:
        raise ValueError(f"{path} is not a progress record written by mdlstm_utils.data.md.simulate")
    return prog
