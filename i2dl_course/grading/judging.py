"""Judge one executed notebook in its own limited process (limited.py).

The child builds the assignment's judges from the same specification as the coordinator, gets the
grader's test split from it as arrays (it is the trusted side: the labels never enter a sandbox),
and sends each verdict as soon as it is decided: [grade id, points, message, measure]. If it runs
out of CPU time or memory, or dies, the cells it had not judged yet score 0 with a message that
says so; the other notebooks and submissions are unaffected.
"""
import math

from ..judges import AssignmentJudges, GraderData, Verdict
from . import limited

# Per notebook judged. The solution's notebooks, judging and feedback together, took 2.9 CPU seconds and
# a 600 MB peak (resident, the preloaded modules included) here: benchmarks/coordinator_cost.py.
LIMITS = limited.Limits(cpu_seconds=60, memory_mb=3072, wall_seconds=300)
MAX_MESSAGE = 500


def _judge(send, spec: str, root, assignment: str, data: dict, notebook: str, points: dict, exports: dict,
           inputs: dict, cell_errors: dict):
    judges = AssignmentJudges(spec, root, assignment, GraderData(data))
    judges.judge_notebook(notebook, points, exports, inputs, cell_errors,
                          judged=lambda grade_id, v: send([grade_id, v.points, v.message, v.measure]))


def _verdict(message, points: dict):
    """(grade id, Verdict) from one child message, or None if it is not one."""
    if not (isinstance(message, list) and len(message) == 4 and isinstance(message[0], str)
            and message[0] in points):
        return None
    grade_id, got, text, measure = message
    if not isinstance(got, (int, float)) or not isinstance(text, str) or not math.isfinite(got):
        return None
    measure = float(measure) if isinstance(measure, (int, float)) and math.isfinite(measure) else None
    return grade_id, Verdict(min(max(float(got), 0.0), float(points[grade_id])), text[:MAX_MESSAGE], measure)


def judge(judges: AssignmentJudges, notebook: str, points: dict, exports: dict, inputs: dict,
          cell_errors: dict, limits: limited.Limits = LIMITS):
    """({grade id: Verdict} for every cell of `points`, why judging stopped or None, limited.Result)."""
    args = (judges.spec, judges.root, judges.assignment, judges.data.arrays(), notebook, points, exports,
            inputs, cell_errors)
    result = limited.run(_judge, args, limits)
    verdicts = dict(filter(None, (_verdict(m, points) for m in result.messages)))
    failure = None
    if result.failure or len(verdicts) < len(points):
        failure = f"judging this notebook's models {result.failure or 'stopped before every test was judged'}"
        for grade_id in points:
            verdicts.setdefault(grade_id, Verdict(0.0, f"not judged: {failure}"))
    return {g: verdicts[g] for g in points}, failure, result
