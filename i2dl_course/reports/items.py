"""A report per test (`items.csv` and `items.html` beside grades.csv): for each grade id the
submissions, full marks, zeros, mean points and the most frequent reasons, so that a test almost
nobody passes stands out.

Read from the grader's markers (.grading/<assignment>/done/<student>.json, key "verdicts":
{notebook: {grade id: [points, message]}}), which the grader's own process writes. Reasons are
grouped with their numbers and quoted code masked ("accuracy 0.653 ..." and "accuracy 0.612 ..."
are one reason, and so are two students' lines in "at Encoder.forward, line 3: `...`").
"""
import csv
import html
import json
import re
from collections import Counter
from pathlib import Path

TOP_REASONS = 5
HARD = 0.2                 # tests that fewer than this share of the submissions pass in full stand out
NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")
CODE = re.compile(r"`[^`]*`")


def reason(message: str) -> str:
    """The message with its numbers and quoted code masked, so that the same mistake counts as one reason."""
    return NUMBER.sub("#", CODE.sub("`…`", " ".join(str(message).split())))[:200]


def collect(done_dir: Path, points: dict) -> list:
    """One row per test: points = {notebook: {grade id: max points}} in the notebooks' order."""
    verdicts = []
    for path in sorted(Path(done_dir).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("verdicts"), dict):
            verdicts.append(data["verdicts"])
    rows = []
    for notebook, cells in points.items():
        for grade_id, most in cells.items():
            got = [v.get(notebook, {}).get(grade_id) for v in verdicts]
            got = [g for g in got if isinstance(g, list) and len(g) == 2]
            scores = [float(p) for p, _ in got]
            reasons = Counter(reason(m) for p, m in got if float(p) < most)
            rows.append({"notebook": notebook, "grade_id": grade_id, "max_points": most, "submissions": len(got),
                         "full_marks": sum(s >= most for s in scores), "zeros": sum(s == 0 for s in scores),
                         "mean_points": round(sum(scores) / len(scores), 3) if scores else "",
                         "reasons": reasons.most_common(TOP_REASONS)})
    return rows


def write(done_dir: Path, points: dict, out_dir: Path) -> Path:
    """Write items.csv and items.html into out_dir; the HTML's path."""
    rows = collect(done_dir, points)
    out_dir = Path(out_dir)
    with open(out_dir / "items.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["notebook", "grade_id", "max_points", "submissions", "full_marks", "zeros", "mean_points",
                      "top_reasons"])
        for r in rows:
            out.writerow([r["notebook"], r["grade_id"], r["max_points"], r["submissions"], r["full_marks"],
                          r["zeros"], r["mean_points"], " | ".join(f"{n} x {text}" for text, n in r["reasons"])])
    e = html.escape
    body = []
    for r in rows:
        hard = r["submissions"] and r["full_marks"] < HARD * r["submissions"]
        reasons = "".join(f"<li>{n} &times; {e(text)}</li>" for text, n in r["reasons"])
        body.append(f"<tr class='{'hard' if hard else ''}'><td>{e(r['notebook'])}</td><td>{e(r['grade_id'])}</td>"
                    f"<td>{r['max_points']:g}</td><td>{r['submissions']}</td><td>{r['full_marks']}</td>"
                    f"<td>{r['zeros']}</td><td>{r['mean_points']}</td><td><ul>{reasons}</ul></td></tr>")
    page = ("<!doctype html><meta charset=utf-8><title>Tests</title><style>body{font-family:sans-serif}"
            "td,th{border-bottom:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
            "tr.hard{background:#fde2e2}ul{margin:0;padding-left:1.2em}</style><h1>Tests</h1>"
            f"<p>Per test: how many submissions got full marks or zero, the mean, and the {TOP_REASONS} most "
            f"frequent reasons for lost points (numbers masked). Red: fewer than {HARD:.0%} full marks.</p>"
            "<table><tr><th>notebook</th><th>test</th><th>points</th><th>submissions</th><th>full marks</th>"
            "<th>zeros</th><th>mean</th><th>most frequent reasons</th></tr>" + "".join(body) + "</table>")
    (out_dir / "items.html").write_text(page)
    return out_dir / "items.html"
