"""Similarity report: pairs of students whose code for the same task overlaps, per solution cell.

Evidence is only what a student wrote. Each solution cell (grade id) is tokenised with Python's
`tokenize`: comments and whitespace are dropped, every name becomes one placeholder (except
keywords, builtins and attribute names after a dot, which a copier does not rename), strings and
numbers become one placeholder each, and tokens on lines that the release's own cell already has
(signature, docstring, TODO hints, stub) are dropped. copydetect's winnowing turns what is left
into fingerprints (hashes of K-token runs, of every run of K + WINDOW - 1 tokens one is kept;
the hashes are computed here, as copydetect's use Python's per-process randomised hash()).
No evidence either: fingerprints of the kit's own solution (source/), which is the instructor's
and not a student's (cells that reproduce it are listed apart), and fingerprints that more than
`common_limit` cells of a task have: code everybody writes the same way (as MOSS's -m option).
A cell with fewer than MIN_FINGERPRINTS fingerprints left is not compared: short solutions look
alike anyway. The share of a pair is the number of fingerprints the two cells have in common
divided by the smaller cell's count, so a copy padded with extra code is still found.

Submissions are taken with collect.collect and read as hostile data: a notebook over the size cap,
malformed JSON, a cell whose source is not text, too many cells each give a line in the report.
Nothing from a submission is executed or imported.
"""
import bisect
import builtins
import csv
import html
import io
import itertools
import json
import keyword
import re
import tokenize
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
from copydetect.utils import find_fingerprint_overlap, get_copied_slices, winnow

from ..grading import collect
from ..examples import solution_cells

K = 11                        # tokens in a fingerprinted run
WINDOW = 3                    # winnowing window: every shared run of K + WINDOW - 1 = 13 tokens shows
MIN_FINGERPRINTS = 15         # fewer in a cell (about 40 tokens, three lines): not compared
THRESHOLD = 0.65              # default share from which a pair is flagged (how it was chosen: CALIBRATION)
CALIBRATION = ("measured with benchmarks/similarity.py on this exercise: 19 pairs of independently written "
               "correct solutions of 10 tasks (three authors, the kit's solution counted as one) shared 0.00-0.50 "
               "(median 0.09), 23 disguised copies (variables renamed, comments rewritten, independent lines "
               "swapped) 0.78-1.00; 0.65 lies halfway")
MAX_NOTEBOOK_BYTES = 20 << 20
MAX_CELLS = 5000
MAX_CELL_CHARS = 100_000
TOP = 3                       # pairs listed per task even below the threshold
MAX_VIEWS = 300               # side-by-side views in the HTML, worst first
CHUNK = 4096                  # fingerprints per block of the pair count (memory: cells x CHUNK floats)
KEEP = frozenset(dir(builtins))
SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
        tokenize.ENDMARKER, getattr(tokenize, "FSTRING_MIDDLE", -1), getattr(tokenize, "FSTRING_END", -1)}
STRINGS = {tokenize.STRING, getattr(tokenize, "FSTRING_START", -1)}
FALLBACK = re.compile(r"(?P<c>#[^\n]*)|(?P<s>[rRbBuUfF]{0,2}(\"[^\"\n]*\"?|'[^'\n]*'?))|(?P<n>[^\W\d]\w*)"
                      r"|(?P<d>\d[\w.]*)|(?P<o>\S)")
KINDS = {"c": tokenize.COMMENT, "s": tokenize.STRING, "n": tokenize.NAME, "d": tokenize.NUMBER, "o": tokenize.OP}


@dataclass
class Cell:
    """One student's cell for one task."""
    student: str
    source: str
    earlier: bool = False
    kit_share: float = 0.0                        # share of its fingerprints that the kit's solution has
    spans: list = field(default_factory=list)     # (start, end) in source of each of the student's own tokens
    hashes: set = field(default_factory=set)      # evidence: own, not common
    where: dict = field(default_factory=dict)     # hash -> token positions


@dataclass
class Task:
    notebook: str
    grade_id: str
    template: set                                 # the release cell's lines, stripped
    kit: set = field(default_factory=set)         # every fingerprint of the kit's own solution
    cells: list = field(default_factory=list)
    pairs: list = field(default_factory=list)


@dataclass
class Pair:
    task: Task
    a: Cell
    b: Cell
    common: int
    share: float
    flagged: bool


# -- reading ------------------------------------------------------------------------------------
def _tasks(source_dir: Path, release_dir: Path) -> list:
    """A Task for every solution cell of the assignment, in notebook order, with the kit's fingerprints."""
    solutions, tasks = solution_cells(source_dir), []
    for path in sorted(Path(release_dir).glob("*.ipynb")):
        tasks += [Task(path.stem, c.metadata["nbgrader"]["grade_id"], {line.strip() for line in c.source.splitlines()})
                  for c in nbformat.read(path, 4).cells if c.metadata.get("nbgrader", {}).get("grade_id") in solutions]
    for task in tasks:
        kit = Cell("kit", solutions[task.grade_id])
        _fingerprint(kit, task.template, window=1)         # all of its runs, not a winnowed sample
        task.kit = kit.hashes
    return tasks


def _cells(data: bytes, name: str, wanted: set) -> tuple:
    """({grade id: source} of the wanted cells in a notebook's bytes, [problem lines]); never raises on content."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        return {}, [f"{name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MB: not read"]
    try:
        nb = json.loads(data)
    except (ValueError, RecursionError) as err:
        return {}, [f"{name} is not a readable notebook (malformed JSON: {str(err)[:80]})"]
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return {}, [f"{name} is not a notebook (no list of cells)"]
    if len(cells) > MAX_CELLS:
        return {}, [f"{name} has {len(cells):,} cells (more than {MAX_CELLS:,}): not read"]
    found, seen, problems = {}, set(), []
    for cell in cells:
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
        grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
        if not isinstance(grade_id, str) or grade_id not in wanted:
            continue
        source = cell.get("source")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if grade_id in seen:
            problems.append(f"{name}: a second cell {grade_id} ignored")
        elif not isinstance(source, str):
            problems.append(f"{name}: cell {grade_id} has a source that is not text: not compared")
        elif len(source) > MAX_CELL_CHARS:
            problems.append(f"{name}: cell {grade_id} has more than {MAX_CELL_CHARS:,} characters: not compared")
        else:
            found[grade_id] = source
        seen.add(grade_id)
    if wanted - seen:
        problems.append(f"{name}: no cell {', '.join(sorted(wanted - seen))} (nbgrader metadata removed?)")
    return found, problems


def _read(folder: Path, tasks: list, assignment: str, label: str = "") -> tuple:
    """Add every submission's cells in folder to tasks; (students read, [problem lines])."""
    by_notebook = {}
    for task in tasks:
        by_notebook.setdefault(task.notebook, {})[task.grade_id] = task
    students, problems = 0, []
    for student, origin, error in collect.find(folder):
        name = label + student
        if error:
            problems.append(f"{name}: {error}")
            continue
        students += 1
        sub = collect.collect(student, origin, assignment, notebooks=list(by_notebook), extra_files=())
        problems += [f"{name}: {note}" for note in sub.notes]
        for notebook, wanted in by_notebook.items():
            data = sub.files.get(f"{notebook}.ipynb")
            if data is not None:
                cells, notes = _cells(data, f"{notebook}.ipynb", set(wanted))
                problems += [f"{name}: {note}" for note in notes]
                for grade_id, source in cells.items():
                    wanted[grade_id].cells.append(Cell(name, source, earlier=bool(label)))
    return students, problems


# -- fingerprinting and comparing --------------------------------------------------------------------
def _tokens(source: str) -> list:
    """(type, text, start, end) of source's tokens (character offsets); a regex split if tokenize fails."""
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    try:
        return [(t.type, t.string, starts[t.start[0] - 1] + t.start[1], starts[t.end[0] - 1] + t.end[1])
                for t in tokenize.generate_tokens(io.StringIO(source).readline)]
    except (tokenize.TokenError, SyntaxError):             # unfinished or badly indented code
        return [(KINDS[m.lastgroup], m.group(), m.start(), m.end()) for m in FALLBACK.finditer(source)]


def _fingerprint(cell: Cell, template: set, window: int = WINDOW) -> None:
    """cell.spans, hashes and where from the student's own tokens, normalised."""
    lines = cell.source.splitlines(keepends=True)
    starts = list(itertools.accumulate((len(line) for line in lines[:-1]), initial=0))
    symbols, previous = [], None
    for kind, text, start, end in _tokens(cell.source):
        if kind == tokenize.NAME:
            symbol = text if keyword.iskeyword(text) or text in KEEP or previous == "." else "V"
        elif kind == tokenize.NUMBER:
            symbol = "N"
        elif kind in STRINGS:
            symbol = "S"
        elif kind in SKIP or not text.strip():
            continue
        else:
            symbol = text
        previous = text
        if lines[bisect.bisect_right(starts, start) - 1].strip() not in template:
            symbols.append(zlib.crc32(symbol.encode()))
            cell.spans.append((start, end))
    if len(symbols) >= K:
        codes = np.array(symbols, dtype=np.uint64)
        runs = np.zeros(len(codes) - K + 1, dtype=np.uint64)
        for j in range(K):                                  # a polynomial hash of every K-token run
            runs = runs * np.uint64(1_000_003) + codes[j:len(codes) - K + 1 + j]
        hashes, positions = winnow(runs.view(np.int64), window, remove_duplicates=False)
        for h, i in zip(hashes.tolist(), positions.tolist()):
            cell.where.setdefault(h, []).append(i)
        cell.hashes = set(cell.where)


def common_limit(cells: int) -> int:
    """Fingerprints in more cells of a task than this are code everybody writes: not evidence."""
    return max(10, cells // 10)


def _compare(task: Task, threshold: float) -> None:
    """task.pairs: the pairs at or above the threshold and the TOP closest below it, worst first."""
    counts = {}
    for cell in task.cells:
        if len(cell.hashes) >= MIN_FINGERPRINTS:
            cell.kit_share = len(cell.hashes & task.kit) / len(cell.hashes)
        cell.hashes -= task.kit
        for h in cell.hashes:
            counts[h] = counts.get(h, 0) + 1
    limit = common_limit(len(task.cells))
    common = {h for h, n in counts.items() if n > limit}
    for cell in task.cells:
        cell.hashes -= common
    cells = [c for c in task.cells if len(c.hashes) >= MIN_FINGERPRINTS]
    columns = {h: i for i, h in enumerate(h for h, n in counts.items() if 2 <= n <= limit)}
    if not columns:
        return
    marks = [(r, columns[h]) for r, cell in enumerate(cells) for h in cell.hashes if h in columns]
    rows, cols = np.array(marks, dtype=np.int64).reshape(-1, 2).T
    shared = np.zeros((len(cells), len(cells)), dtype=np.float32)
    for lo in range(0, len(columns), CHUNK):                # shared[i, j]: fingerprints cells i and j both have
        block = np.zeros((len(cells), CHUNK), dtype=np.float32)
        inside = (cols >= lo) & (cols < lo + CHUNK)
        block[rows[inside], cols[inside] - lo] = 1
        shared += block @ block.T
    sizes = np.array([len(c.hashes) for c in cells], dtype=np.float32)
    share = shared / np.minimum(sizes[:, None], sizes[None, :])
    earlier = np.array([c.earlier for c in cells], dtype=bool)
    share[np.tril_indices(len(cells))] = 0                 # each pair once, no cell with itself
    share[np.ix_(earlier, earlier)] = 0                    # earlier years among themselves: not asked
    for flat in np.argsort(-share, axis=None, kind="stable"):
        i, j = divmod(int(flat), len(cells))
        if share[i, j] <= 0 or (share[i, j] < threshold and len(task.pairs) >= TOP):
            break
        a, b = sorted((cells[i], cells[j]), key=lambda c: (c.earlier, c.student))
        task.pairs.append(Pair(task, a, b, int(shared[i, j]), float(share[i, j]), bool(share[i, j] >= threshold)))


def _marked(cell: Cell, other: Cell) -> list:
    """(start, end) character ranges of cell.source whose fingerprints other has too."""
    positions, _ = find_fingerprint_overlap(cell.hashes, other.hashes, cell.where, other.where)
    starts, ends = get_copied_slices(positions, K)
    return [(cell.spans[int(s)][0], cell.spans[int(e) - 1][1]) for s, e in zip(starts, ends)]


# -- writing --------------------------------------------------------------------------------------
def _write_csv(path: Path, pairs: list) -> None:
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["student_a", "student_b", "notebook", "grade_id", "share", "common_fingerprints",
                      "fingerprints_a", "fingerprints_b", "flagged"])
        for p in pairs:
            out.writerow([p.a.student, p.b.student, p.task.notebook, p.task.grade_id, f"{p.share:.3f}", p.common,
                          len(p.a.hashes), len(p.b.hashes), "yes" if p.flagged else "no"])


def _code(cell: Cell, marks: list, template: set) -> str:
    """The cell as HTML: the overlap in <mark>, the release's own lines dimmed."""
    out, offset = [], 0
    for line in cell.source.splitlines(keepends=True):
        end = offset + len(line)
        if line.strip() in template:
            out.append(f'<span class="t">{html.escape(line)}</span>')
        else:
            cuts = sorted({offset, end} | {min(max(x, offset), end) for m in marks for x in m})
            for lo, hi in zip(cuts, cuts[1:]):
                piece = html.escape(cell.source[lo:hi])
                out.append(f"<mark>{piece}</mark>" if any(s <= lo and hi <= e for s, e in marks) else piece)
        offset = end
    return "".join(out)


STYLE = """body{font-family:sans-serif;margin:2em;max-width:120em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}pre{background:#f6f6f6;padding:.5em;
overflow-x:auto;font-size:.85em}mark{background:#ffb347}.t{color:#999}.side{display:flex;gap:1em}
.side>div{flex:1;min-width:0}.verdict{font-size:1.3em;font-weight:bold}"""


def rules(threshold: float) -> str:
    """What counts as evidence and how the threshold was chosen, in words."""
    return (f"Evidence is only code the students wrote: lines the release already has, comments, whitespace "
            f"and names (every name counts as the same) are ignored, and so is what the kit's own solution "
            f"has. A share is the fraction of the smaller "
            f"cell's fingerprints ({K}-token runs, winnowed with copydetect) that the other cell has too. Not "
            f"compared: cells with fewer than {MIN_FINGERPRINTS} fingerprints of their own (about three lines; "
            f"short solutions look alike anyway), and code that more than a tenth of the cells of a task (at "
            f"least 10) share. Flagged from a share of {threshold:.2f}; the default {THRESHOLD:.2f} was measured: "
            f"{CALIBRATION}. Set it with --threshold.")


def _write_html(path: Path, tasks: list, pairs: list, problems: list, head: str, threshold: float) -> None:
    flagged = [p for p in pairs if p.flagged]
    verdict = (f"{len(flagged)} pair(s) flagged on {len({id(p.task) for p in flagged})} task(s): see below."
               if flagged else "Nothing is suspicious: no pair of submissions reaches the threshold on any task.")
    h = [f"<!doctype html><meta charset=utf-8><title>Similarity report</title><style>{STYLE}</style>",
         "<h1>Similarity report</h1>", f'<p class="verdict">{html.escape(verdict)}</p>', f"<p>{html.escape(head)}</p>"]
    if flagged:
        h.append("<h2>Flagged pairs, worst first</h2><table><tr><th>share</th><th>students</th><th>task</th></tr>")
        for n, p in enumerate(flagged):
            share = f'<a href="#v{n}">{p.share:.0%}</a>' if n < MAX_VIEWS else f"{p.share:.0%}"
            h.append(f"<tr><td>{share}</td><td>{html.escape(p.a.student)} / {html.escape(p.b.student)}</td>"
                     f"<td>{p.task.notebook}: {p.task.grade_id}</td></tr>")
        h.append("</table>")
    h.append("<h2>Tasks</h2><table><tr><th>notebook</th><th>task (grade id)</th><th>cells</th><th>compared</th>"
             "<th>highest share</th><th>flagged pairs</th></tr>")
    for t in tasks:
        compared = sum(len(c.hashes) >= MIN_FINGERPRINTS for c in t.cells)
        top = f"{t.pairs[0].share:.2f}" if t.pairs else "-"
        h.append(f"<tr><td>{t.notebook}</td><td>{t.grade_id}</td><td>{len(t.cells)}</td><td>{compared}</td>"
                 f"<td>{top}</td><td>{sum(p.flagged for p in t.pairs)}</td></tr>")
    h.append("</table><h2>Cells that reproduce the kit's own solution</h2><p>Not compared between students, "
             "as the kit's solution is not a student's: the demo submissions are built from it; in a class, "
             "many of these would mean the solution circulates.</p>")
    kit = [(t, c) for t in tasks for c in t.cells if c.kit_share >= threshold]
    h.append("<ul>" + "".join(f"<li>{html.escape(c.student)}: {t.notebook}: {t.grade_id} ({c.kit_share:.0%})</li>"
                              for t, c in kit) + "</ul>" if kit else "<p>none</p>")
    h.append("<h2>Submissions not read in full (no evidence either way)</h2>")
    h.append("<ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in problems) + "</ul>" if problems else "<p>none</p>")
    for n, p in enumerate(flagged[:MAX_VIEWS]):
        h.append(f'<h3 id="v{n}">{p.task.notebook}: {p.task.grade_id}, {html.escape(p.a.student)} and '
                 f"{html.escape(p.b.student)}: {p.share:.0%} ({p.common} of "
                 f"{min(len(p.a.hashes), len(p.b.hashes))} fingerprints)</h3><div class=side>")
        for cell, other in ((p.a, p.b), (p.b, p.a)):
            h.append(f"<div><b>{html.escape(cell.student)}</b>"
                     f"<pre>{_code(cell, _marked(cell, other), p.task.template)}</pre></div>")
        h.append("</div>")
    if len(flagged) > MAX_VIEWS:
        h.append(f"<p>Side-by-side views for the {MAX_VIEWS} worst pairs only; all pairs are in similarity.csv.</p>")
    path.write_text("\n".join(h))


def report(submissions: Path, out_dir: Path, source_dir: Path, release_dir: Path, assignment: str,
           earlier: Path = None, threshold: float = None) -> Path:
    """Write similarity.csv and similarity.html (pairs per task, worst first) into out_dir; the HTML's path.

    earlier: a folder of submissions from earlier years (same layout), compared with the current ones.
    """
    threshold = THRESHOLD if threshold is None else threshold
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold {threshold} is not a share in (0, 1]")
    tasks = _tasks(source_dir, release_dir)
    students, problems = _read(Path(submissions), tasks, assignment)
    old = 0
    if earlier is not None:
        old, notes = _read(Path(earlier), tasks, assignment, label=f"{Path(earlier).name}/")
        problems += notes
    for task in tasks:
        for cell in task.cells:
            _fingerprint(cell, task.template)
        _compare(task, threshold)
    pairs = sorted((p for t in tasks for p in t.pairs), key=lambda p: (not p.flagged, -p.share))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(out_dir / "similarity.csv", pairs)
    head = (f"{students} submission(s)" + (f", compared with {old} from {Path(earlier).name}" if earlier else "")
            + f"; {len(tasks)} tasks (solution cells); threshold {threshold:.2f}. " + rules(threshold))
    _write_html(out_dir / "similarity.html", tasks, pairs, problems, head, threshold)
    return out_dir / "similarity.html"
