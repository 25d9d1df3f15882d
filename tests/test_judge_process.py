"""Judging runs in a limited child process: it gives the same verdicts as judging in place, and a
step that burns CPU, eats memory or dies costs no more than the limits, scores the cells it had not
judged 0 with the reason in words, and leaves the coordinator and the next step unaffected."""
import os
import resource

import numpy as np
import pytest

from i2dl_course.grading import judging, limited
from test_judged_together import NB, POINTS, Classifier, encoder, evidence_of, pca_autoencoder, transfer_from

TIGHT = limited.Limits(cpu_seconds=2, memory_mb=300, wall_seconds=30)


def burn(send):
    send("started")
    while True:
        pass


def eat(send):
    send("started")
    blocks = []
    while True:
        blocks.append(np.ones(50 << 20, np.uint8))


def die(send):
    send("started")
    os._exit(3)


def sleep(send):
    import time
    time.sleep(60)


def answer(send, value):
    send(value)


@pytest.mark.parametrize("step, words", [(burn, "took more than the grader's 2 CPU seconds"),
                                         (eat, "needed more than the grader's 300 MB of memory"),
                                         (die, "stopped unexpectedly"),
                                         (sleep, "did not finish within the grader's 3 seconds")],
                         ids=["cpu", "memory", "dies", "stalls"])
def test_a_hostile_step_costs_no_more_than_its_limits(step, words):
    before = resource.getrusage(resource.RUSAGE_SELF)
    limits = limited.Limits(TIGHT.cpu_seconds, TIGHT.memory_mb, 3 if step is sleep else TIGHT.wall_seconds)
    result = limited.run(step, (), limits)
    assert words in result.failure
    assert result.messages == ([] if step is sleep else ["started"])     # what it sent before is kept
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < before.ru_maxrss + (100 << 10)  # KB
    assert limited.run(answer, ({"x": [1, 2]},), TIGHT).messages == [{"x": [1, 2]}]   # the next one is fine


@pytest.fixture(scope="module")
def judged_files(judges, inputs):
    ae = pca_autoencoder(judges.data.test_images[:2000])
    return evidence_of(inputs, ae, transfer_from(ae.encoder[1]), Classifier(encoder()))


def test_the_child_gives_the_verdicts_of_judging_in_place(judges, inputs, judged_files):
    here = judges.judge_notebook(NB, POINTS, judged_files, inputs)
    there, failure, result = judging.judge(judges, NB, POINTS, judged_files, inputs, {})
    assert failure is None and list(there) == list(POINTS)
    assert {g: (v.points, v.message) for g, v in there.items()} == {g: (v.points, v.message) for g, v in here.items()}
    assert result.cpu_seconds > 0 and result.peak_mb > 0


def test_a_notebook_over_the_limits_scores_its_unjudged_cells_0_in_words(judges, inputs, judged_files):
    limits = limited.Limits(cpu_seconds=60, memory_mb=1, wall_seconds=60)
    verdicts, failure, _ = judging.judge(judges, NB, POINTS, judged_files, inputs, {}, limits)
    assert failure == "judging this notebook's models needed more than the grader's 1 MB of memory"
    assert all(v.points == 0 and v.message == f"not judged: {failure}" for v in verdicts.values())


from test_judged_together import inputs, judges  # noqa: E402,F401  the same module fixtures
