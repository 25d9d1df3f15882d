"""Judges read exports as hostile data: every malformed, oversized or dangerous export is a clear 0
with a reason, never code run, never a crash; files a kernel touched are read without following
anything."""
import io
import json
import os
import pickle
import threading

import numpy as np
import pytest

from i2dl_course.grading.safe_files import Refused, read_file, read_tree
from i2dl_course.judges import AssignmentJudges
from i2dl_course.judges.evidence import Evidence, Failed, parse_npy
from notebooks import ROOT


def npy(array, allow_pickle=False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def evidence(arrays=None, record=None, **raw) -> Evidence:
    files = {"record.json": json.dumps(record or {}).encode(), **raw}
    files.update({f"{k}.npy": npy(v) for k, v in (arrays or {}).items()})
    return Evidence(files, "t")


class Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/i2dl-judge-pwned",))


def test_a_pickle_payload_is_refused_and_never_loaded():
    payload = npy(np.array([Boom()], dtype=object), allow_pickle=True)
    with pytest.raises(Failed, match="not accepted"):
        evidence(**{"x.npy": payload}).array("x")
    assert not os.path.exists("/tmp/i2dl-judge-pwned")
    with pytest.raises(Failed, match="not a plain .npy"):
        parse_npy(pickle.dumps(Boom()), "x")


def test_huge_numbers_nan_and_malformed_json_are_refused():
    for text in (b'{"values": {"x": 1' + b"0" * 5000 + b"}}", b'{"values": {"x": NaN}}', b'{"values": {"x": 1e999}}',
                 b"[" * 100000, b"\xff\xfe", b'{"values": []}'):
        with pytest.raises(Failed):
            Evidence({"record.json": text}, "t")
    with pytest.raises(Failed, match="no results"):
        Evidence({}, "t")


def test_wrong_dtypes_shapes_nan_and_lying_headers_are_refused():
    ev = evidence({"f": np.array([1.0, np.nan]), "s": np.array(["a"]), "ok": np.ones((2, 3), np.float32)})
    with pytest.raises(Failed, match="NaN or inf"):
        ev.array("f", "my function")
    with pytest.raises(Failed, match="not accepted"):
        ev.array("s")
    with pytest.raises(Failed, match=r"shape \(2, 3\), expected \(3, 2\)"):
        ev.array("ok", shape=(3, 2))
    with pytest.raises(Failed, match="floating-point"):
        evidence({"i": np.arange(3)}).array("i", kind="f")
    lying = npy(np.zeros(4)).replace(b"(4,)", b"(9,)")          # a header that promises more than the file holds
    for data in (lying, npy(np.zeros(4))[:20]):
        with pytest.raises(Failed):
            parse_npy(data, "x")


def test_a_student_exception_becomes_the_message():
    ev = evidence(record={"errors": {"out": "NotImplementedError: "}, "values": {}})
    with pytest.raises(Failed, match=r"random_shift\(images, 2\) is not implemented yet"):
        ev.array("out", "random_shift(images, 2)")


def test_careful_reader_refuses_links_fifos_hard_links_and_oversized_files(tmp_path):
    (tmp_path / "ok").write_bytes(b"fine")
    os.symlink("/etc/passwd", tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    os.link(tmp_path / "ok", tmp_path / "second-name")
    with open(tmp_path / "sparse", "wb") as f:
        f.truncate(4 << 30)
    done = threading.Event()
    result = {}

    def read():
        result["tree"] = read_tree(tmp_path, max_file=1 << 20, max_total=1 << 30, max_files=10)
        done.set()
    threading.Thread(target=read, daemon=True).start()
    assert done.wait(10), "the reader hung (on the FIFO?)"
    tree = result["tree"]
    assert tree.files == {}                  # ok has a second name now: refused too
    text = " | ".join(tree.refused)
    for what in ("link is a symbolic link", "fifo is a FIFO", "ok is a hard link", "sparse is larger than"):
        assert what in text, text
    (tmp_path / "second-name").unlink()
    assert read_file(tmp_path / "ok", 100) == b"fine"
    with pytest.raises(Refused):
        read_file(tmp_path / "ok", 3)


def test_judges_of_the_exercise_fail_closed_on_foreign_exports(tmp_path):
    judges = AssignmentJudges("i2dl_course.judges.exercise_08", ROOT, "exercise_08")
    inputs = judges.inputs(0, "2_batchnorm_dropout")
    verdict = judges.judge("2_batchnorm_dropout", "test_dropout_forward", 3, {}, inputs, "NameError: name 'x'")
    assert verdict.points == 0 and "NameError" in verdict.message
    forged = {"record.json": b'{"values": {}, "errors": {}, "models": {}}', "train_0.npy": npy(inputs["test_dropout_forward"]["x"])}
    verdict = judges.judge("2_batchnorm_dropout", "test_dropout_forward", 3, forged, inputs)
    assert verdict.points == 0 and "units were dropped" in verdict.message
    assert judges.judge("2_batchnorm_dropout", "no_such_test", 1, forged, inputs).points == 0
