"""Fill one column of a gradebook CSV that an LMS exported with the kit's totals (`i2dl export`).

Everything but the filled cells stays byte-for-byte as the LMS wrote it: encoding (UTF-8, with or
without a byte-order mark), delimiter (sniffed among , ; tab), quoting, line endings, every other
row (Canvas's "Points Possible" row under the header, a test student) and column. A filled cell
replaces the text of that one field in the row's text; where that cannot be done safely (a row
shorter than the header), the row is written again with Python's csv writer in the file's dialect.

Rows are matched on the value of one column (e.g. Canvas's "SIS Login ID", Moodle's "ID number"
or "Email address") with the kit's student ids: equal after stripping surrounding whitespace and
case-folding. Two template rows or two kit students with one such key are ambiguous: listed, not
filled. Nothing is guessed: every kit student without a template row and every template row
(with a non-empty match cell) without a grade is listed.

A cell is only ever written with a number the kit formatted; `safe_cell` escapes a value that a
spreadsheet would take as a formula (= + - @, tab, carriage return) with a leading apostrophe
(OWASP's advice), so nothing the kit writes can become one. Template cells are data: never evaluated.
"""
import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DELIMITERS = (",", ";", "\t")             # the first wins a tie
GRADED = ("graded", "problem")          # statuses of grades.csv with a total (report.py)


class TemplateError(ValueError):
    """The template cannot be filled (no such column, not UTF-8, ...): one line for the instructor."""


@dataclass
class Filled:
    text: str                                      # the filled CSV, decoded (BOM included if it had one)
    written: dict = field(default_factory=dict)    # {student id: cell text written}
    not_in_template: list = field(default_factory=list)   # kit students with a grade but no template row
    no_grade: list = field(default_factory=list)          # template match values without a kit grade
    not_graded: list = field(default_factory=list)        # "student: reason" for grades.csv rows in error
    ambiguous: list = field(default_factory=list)         # keys that two rows or two students share


def safe_cell(text: str) -> str:
    """`text` as a spreadsheet shows it, never as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def number(value: float) -> str:
    """A total as a cell: at most two decimals, no trailing zeros (83.5, 100, 0)."""
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    return safe_cell(f"{value:.2f}".rstrip("0").rstrip("."))


def key(value: str) -> str:
    return value.strip().casefold()


def read_totals(grades_csv: Path) -> tuple:
    """({student id: total}, {student id: why it has none}) from the kit's grades.csv."""
    totals, missing = {}, {}
    with open(grades_csv, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            student, status = row["student_id"], row.get("status", "")
            if status in GRADED:
                totals[student] = float(row["total"])
            else:
                reason = row.get("reason", "")
                missing[student] = f"{status}: {reason}" if reason else status
    return totals, missing


def _records(text: str, dialect) -> list:
    """[(raw text of one CSV record incl. its line ending, parsed fields)] in file order."""
    lines = re.findall(r"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+$", text)
    reader = csv.reader(iter(lines), dialect)
    records, used = [], 0
    for fields in reader:
        records.append(("".join(lines[used:reader.line_num]), fields))
        used = reader.line_num
    return records


def _field_spans(raw: str, delimiter: str, quote: str) -> list:
    """[(start, end)] of each field's text in one record (its line ending excluded)."""
    body = raw.rstrip("\r\n") if raw.count(quote) % 2 == 0 else raw
    spans, start, quoted = [], 0, False
    for i, char in enumerate(body):
        if char == quote:
            quoted = not quoted
        elif char == delimiter and not quoted:
            spans.append((start, i))
            start = i + 1
    spans.append((start, len(body)))
    return spans


def _replace(raw: str, fields: list, index: int, value: str, dialect, terminator: str) -> str:
    """The record with field `index` set to `value`: the other fields' text untouched where possible."""
    wanted = list(fields) + [""] * (index + 1 - len(fields))
    wanted[index] = value
    buffer = io.StringIO()
    csv.writer(buffer, dialect, lineterminator="").writerow([value])
    spans = _field_spans(raw, dialect.delimiter, dialect.quotechar)
    if len(spans) == len(fields) > index:
        start, end = spans[index]
        candidate = raw[:start] + buffer.getvalue() + raw[end:]
        if next(csv.reader(io.StringIO(candidate), dialect), None) == wanted:
            return candidate
    buffer = io.StringIO()
    csv.writer(buffer, dialect, lineterminator=terminator).writerow(wanted)
    return buffer.getvalue()


def _dialect(header: str):
    """Excel's CSV dialect with the delimiter the header line uses most outside quotes (, ; or tab)."""
    unquoted = "".join(header.split('"')[::2])
    counts = {d: unquoted.count(d) for d in DELIMITERS}
    return type("Template", (csv.excel,), {"delimiter": max(DELIMITERS, key=counts.get)})


def decode(data: bytes) -> tuple:
    """(text without BOM, had a BOM)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TemplateError(f"the template is not UTF-8 text (byte {err.start}); export it from the LMS as "
                            "UTF-8 CSV") from None
    return (text[1:], True) if text.startswith(BOM) else (text, False)


def fill(data: bytes, match: str, column: str, totals: dict, missing: dict, missing_as_zero=False) -> Filled:
    """Fill `column` of the template (its bytes) with `totals` ({student id: points}) on rows whose
    `match` column is a student's id. missing: {student id: why not graded} (rows with status error
    or not submitted in grades.csv); with missing_as_zero, rows of students who did not submit (not
    submitted, or not in grades.csv at all) get 0; students whose grading failed are never filled."""
    text, bom = decode(data)
    header_end = re.search(r"\r\n|\n|\r", text)
    terminator = header_end.group(0) if header_end else "\r\n"
    dialect = _dialect(text[:header_end.start() if header_end else None])
    records = _records(text, dialect)
    if not records:
        raise TemplateError("the template is empty")
    header = [name.strip() for name in records[0][1]]
    for name in (match, column):
        if header.count(name.strip()) != 1:
            raise TemplateError(f"the template has {header.count(name.strip())} columns named {name!r} "
                                f"(its columns: {', '.join(header)})")
    m, c = header.index(match.strip()), header.index(column.strip())

    result = Filled(text="")
    students = {}
    for student in list(totals) + list(missing):
        students.setdefault(key(student), []).append(student)
    rows = {}
    for i, (_, fields) in enumerate(records[1:], 1):
        value = fields[m] if m < len(fields) else ""
        if key(value):
            rows.setdefault(key(value), []).append(i)
    out = [raw for raw, _ in records]
    for k, indices in rows.items():
        shown = records[indices[0]][1][m].strip()
        ids = students.get(k, [])
        if len(indices) > 1 or len(ids) > 1:
            result.ambiguous.append(f"{shown} ({len(indices)} template rows, kit students: "
                                    f"{', '.join(ids) or 'none'})")
            continue
        student = ids[0] if ids else None
        if student in totals:
            cell = number(max(0.0, totals[student]))
        elif student in missing and not missing[student].startswith("not submitted"):
            result.not_graded.append(f"{student}: {missing[student]}")
            continue
        else:
            result.no_grade.append(shown)
            if not missing_as_zero:
                continue
            cell = number(0.0)
        index = indices[0]
        out[index] = _replace(records[index][0], records[index][1], c, cell, dialect, terminator)
        result.written[student or shown] = cell
    result.not_in_template = sorted(s for s in totals if key(s) not in rows)
    result.text = (BOM if bom else "") + "".join(out)
    return result


def export(template: Path, out: Path, match: str, column: str, grades_csv: Path, missing_as_zero=False) -> Filled:
    """Write the filled template to `out` (never over the template itself)."""
    if Path(out).resolve() == Path(template).resolve():
        raise TemplateError("--out must not be the template itself (the LMS's export stays as it was)")
    totals, missing = read_totals(grades_csv)
    result = fill(Path(template).read_bytes(), match, column, totals, missing, missing_as_zero)
    Path(out).write_bytes(result.text.encode("utf-8"))
    return result
