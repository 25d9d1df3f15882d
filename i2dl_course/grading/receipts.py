"""Receipts: what each recorded grade was computed from, so that `i2dl grade --verify` can compute
it again and say whether it comes out the same.

A receipt (in the marker .grading/<assignment>/done/<student>.json, key "receipt") holds sha256
digests of the sanitized submission (collect.digest of the collected files), of the judges
(AssignmentJudges.fingerprint: the judges' module and the reference solutions), of the kit's
sources (cluster.kit_digest) and of the kit's constraints.txt, the kit's git commit where it is a
checkout, the run's seed (the probes' inputs derive from it and the student id), and the per-notebook
and per-cell time limits and whether the kernels were sandboxed. Cells judged again with --cell
are listed under "rejudged" with the judges' fingerprint used then.
"""
import functools
import hashlib
import subprocess
from pathlib import Path

from .cluster import kit_digest

KIT = Path(__file__).resolve().parents[2]         # the kit's checkout (constraints.txt, .git)


@functools.lru_cache(maxsize=1)
def kit() -> dict:
    """{"kit": digest of the kit's sources, "commit": git HEAD or None, "constraints": digest or None}."""
    constraints = KIT / "constraints.txt"
    try:
        commit = subprocess.run(["git", "-C", str(KIT), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"kit": kit_digest(), "commit": commit,
            "constraints": hashlib.sha256(constraints.read_bytes()).hexdigest() if constraints.is_file() else None}


def receipt(submission: str, judges: str, seed: int, timeout: int, cell_timeout: int, sandbox: bool) -> dict:
    return {"submission": submission, "judges": judges, **kit(), "seed": seed, "timeout": timeout,
            "cell_timeout": cell_timeout, "sandbox": sandbox, "rejudged": {}}


def changed_inputs(recorded: dict, submission: str, judges: str) -> list:
    """What differs between a receipt and the inputs at hand now, one phrase each."""
    now = kit()
    changed = []
    if recorded["submission"] != submission:
        changed.append("the submission in the folder is not the one recorded")
    used = {recorded["judges"], *recorded.get("rejudged", {}).values()}
    if used != {judges}:
        changed.append("the judges changed since")
    if recorded["kit"] != now["kit"]:
        changed.append("the kit's sources changed since" + (
            f" (recorded at commit {recorded['commit'][:12]})" if recorded.get("commit") else ""))
    if recorded["constraints"] != now["constraints"]:
        changed.append("constraints.txt changed since")
    return changed
