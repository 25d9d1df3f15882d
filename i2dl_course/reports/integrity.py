"""Integrity review: what in the submissions a human should look at, beside the similarity report.

Three kinds of evidence, each with where it is (notebook, cell number, line):
1. touches: the student's code names or changes the grading channel. Each cell the student wrote
   (solution cells, and code cells the student added or changed: no nbgrader metadata and not
   the release's own text) is parsed with Python's `ast` (IPython's %magic and !shell lines are
   read as strings) and looked through for: the export folder ($I2DL_EXPORT_DIR, $I2DL_PROBE_INPUTS,
   record.json, files opened or written under a path built from them), other $I2DL_* variables
   read or the whole environment listed, the probes module, the checks' internals and attribute
   stores on any module of the kit, IPython's input or AST transformers, event callbacks,
   exception handlers (set_custom_exc, showtraceback, sys.excepthook), import hooks (sys.meta_path,
   sys.path_hooks, __import__), sys.modules entries of the kit, the callers' stack frames (the
   probes' variables), the grader's package, and code run from a string built at run time
   (exec/eval of a literal is read too). A cell that is not valid Python is read with patterns.
2. copied added cells: the added cells of all submissions are compared with the similarity
   report's machinery (reports.similarity: normalised tokens, winnowed fingerprints, the release's
   lines and the kit's own code are not evidence, at least MIN_FINGERPRINTS of them); cells with
   the same fingerprints, or pairs sharing THRESHOLD of them, are one group: a forging cell passed
   around a class is one group with every student who has it.
3. accuracies above ACCURACY_LIMIT in the grader's measures (`read_measures`: the "measures" of
   each submission's marker, .grading/<assignment>/done/<student>.json): more than 300 labels and
   this notebook's training reach (CALIBRATION).

A flag is for a human: nothing here changes a score, and nothing here is an input to grading.
Submissions are read as hostile data, as in reports.similarity: collect.find and collect.collect
take only the assignment's notebooks, size- and count-capped, and nothing from them is executed
or imported; all their text on the page is escaped, and no script is written to it.
"""
import ast
import csv
import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..grading import collect
from . import similarity

ACCURACY_LIMIT = 0.95
CALIBRATION = ("with 300 labels, the kit's solution reached 0.83-0.87 (baseline, 5 seeds, mean 0.848), 0.882 "
               "with the pretrained encoder (transfer) and 0.915 with augmentation; trained on all 60,000 labels "
               "the same model reaches about 0.97. 0.95 lies 3.5 points above the best 300-label run and 2 points "
               "below the all-labels one: above it, more labels than the 300 (or the test images) were used")
MAX_MEASURE_BYTES = 1 << 20
MAX_FINDINGS_PER_CELL = 20
MAX_ROWS_SHOWN = 2000            # finding rows on the page (all are in integrity.csv)
MAX_GROUPS_SHOWN = 300
MAX_TAINT_ROUNDS = 20          # names passed on from the export folder's variable, followed this deep
MAX_CODE_CHARS = 200             # of a line in the CSV and the table
MAX_REGEX_CHARS = 1 << 20        # a cell over similarity.MAX_CELL_CHARS is read with patterns up to this
KIT_PACKAGES = ("i2dl_utils", "i2dl_course")
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "pypy"}

KINDS = {
    "export-folder": "the export folder the probes write to, or its variables",
    "environment": "the grader's $I2DL_* environment read",
    "probes": "the probes module",
    "checks": "the checks' internals",
    "kit-patch": "a module of the kit changed",
    "ipython-hook": "IPython's input transformers, event callbacks or shell",
    "exception-handler": "exception handlers",
    "import-hook": "import hooks",
    "sys-modules": "sys.modules entries of the kit",
    "frames": "the callers' stack frames (the probes' variables)",
    "grader-package": "the grader's own package",
    "dynamic-code": "code run from a string built at run time",
    "copied-cell": "an added cell that other submissions have too",
    "accuracy": f"an accuracy above {ACCURACY_LIMIT:.2f}",
}

# identifiers (names, attributes, imported names) and words in strings: (kind, what it is)
WORDS = {
    "I2DL_EXPORT_DIR": ("export-folder", "the export folder's variable I2DL_EXPORT_DIR"),
    "I2DL_PROBE_INPUTS": ("export-folder", "the probes' inputs variable I2DL_PROBE_INPUTS"),
    "probes": ("probes", "the probes module (`probes`)"),
    "input_transformers_cleanup": ("ipython-hook", "IPython's input transformers"),
    "input_transformers_post": ("ipython-hook", "IPython's input transformers"),
    "input_transformer_manager": ("ipython-hook", "IPython's input transformers"),
    "input_splitter": ("ipython-hook", "IPython's input transformers"),
    "ast_transformers": ("ipython-hook", "IPython's AST transformers"),
    "register_magic_function": ("ipython-hook", "a new IPython magic"),
    "register_magics": ("ipython-hook", "a new IPython magic"),
    "set_custom_exc": ("exception-handler", "IPython's custom exception handler (set_custom_exc)"),
    "custom_exceptions": ("exception-handler", "IPython's custom exception handler"),
    "showtraceback": ("exception-handler", "IPython's traceback display (showtraceback)"),
    "_showtraceback": ("exception-handler", "IPython's traceback display (_showtraceback)"),
    "showsyntaxerror": ("exception-handler", "IPython's syntax error display"),
    "excepthook": ("exception-handler", "sys.excepthook"),
    "meta_path": ("import-hook", "the import system's finders (sys.meta_path)"),
    "path_hooks": ("import-hook", "the import system's path hooks (sys.path_hooks)"),
    "path_importer_cache": ("import-hook", "the import system's cache (sys.path_importer_cache)"),
    "f_locals": ("frames", "a frame's local variables (f_locals)"),
    "f_globals": ("frames", "a frame's globals (f_globals)"),
    "f_back": ("frames", "the calling frame (f_back)"),
}
STRING_WORDS = dict(WORDS, **{
    "record.json": ("export-folder", "the probes' export file name record.json"),
    "i2dl_utils.probes": ("probes", "the probes module by name"),
    "i2dl_utils.checks": ("checks", "the checks module by name"),
    "i2dl_course": ("grader-package", "the grader's package by name"),
})
STRING_PATTERN = re.compile(r"(?<![\w.])(" + "|".join(re.escape(w) for w in sorted(STRING_WORDS, key=len, reverse=True))
                            + r")(?!\w)")
FRAME_CALLS = {"inspect.stack", "inspect.currentframe", "inspect.getouterframes", "inspect.trace",
               "sys._getframe", "traceback.extract_stack", "traceback.walk_stack"}
ENV_LISTING = {"items", "keys", "values", "copy", "__iter__", "__repr__", "__str__"}
ENV_GETTERS = {"get", "pop", "setdefault", "__getitem__"}
SYS_MODULES_WRITES = {"pop", "popitem", "update", "clear", "setdefault", "__setitem__", "__delitem__"}
FILE_CALLS = {"open", "save", "savez", "savez_compressed", "savetxt", "dump", "write_text", "write_bytes", "mkdir",
              "makedirs", "symlink", "symlink_to", "mkfifo", "remove", "unlink", "rename", "replace", "copy",
              "copyfile", "copy2", "copytree", "move", "truncate", "rmtree", "link", "touch", "listdir",
              "scandir", "glob", "iterdir", "read_text", "read_bytes", "load", "walk"}
CHECKS_INTERNALS = ("common", "stubs")

# for a cell that is not valid Python: (pattern, kind, what)
PATTERNS = [(re.compile(p), kind, what) for p, kind, what in [
    (r"I2DL_EXPORT_DIR|I2DL_PROBE_INPUTS", "export-folder", "the export folder's variables"),
    (r"record\.json", "export-folder", "the probes' export file name record.json"),
    (r"(?:environ|getenv)\b.*I2DL_", "environment", "an $I2DL_* variable"),
    (r"\bprobes\b", "probes", "the probes module"),
    (r"i2dl_utils\.checks\.(?:common|stubs)|from\s+i2dl_utils\.checks\s+import\s+.*\b(?:common|stubs)\b",
     "checks", "the checks' internals"),
    (r"\b(?:checks|common|stubs|i2dl_utils(?:\.\w+)*)\.\w+\s*=(?!=)", "kit-patch", "an attribute of the kit replaced"),
    (r"input_transformers?_\w+|ast_transformers|input_splitter|\.events\.(?:un)?register\b", "ipython-hook",
     "IPython's input transformers or events"),
    (r"set_custom_exc|custom_exceptions|showtraceback|showsyntaxerror|excepthook", "exception-handler",
     "exception handlers"),
    (r"meta_path|path_hooks|path_importer_cache|__import__\s*=(?!=)|builtins\.__import__", "import-hook",
     "import hooks"),
    (r"sys\.modules", "sys-modules", "sys.modules"),
    (r"f_locals|f_globals|f_back|_getframe|inspect\.(?:stack|currentframe)", "frames", "stack frames"),
    (r"i2dl_course", "grader-package", "the grader's package"),
]]


@dataclass
class Finding:
    student: str
    kind: str
    notebook: str = ""
    cell: int = None              # 1-based, in the student's notebook
    line: int = None              # 1-based, in the cell
    grade_id: str = ""
    detail: str = ""
    code: str = ""


@dataclass
class Notebook:
    """What the review needs of one release notebook."""
    name: str                                         # file name, e.g. 1_autoencoder.ipynb
    solution: set = field(default_factory=set)        # grade ids of solution cells
    locked: set = field(default_factory=set)          # other grade ids: grading restores these cells
    sources: set = field(default_factory=set)         # its code cells' text, normalised
    numbers: dict = field(default_factory=dict)       # grade id -> cell number
    lines: set = field(default_factory=set)           # every line, stripped (not evidence of copying)
    aliases: dict = field(default_factory=dict)       # what its imports bind (see _aliases)


def _normal(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _release(release_dir: Path) -> list:
    notebooks = []
    for path in sorted(Path(release_dir).glob("*.ipynb")):
        nb, info = nbformat.read(path, 4), Notebook(path.name)
        info.aliases = _aliases([t for t in (parse(c.source) for c in nb.cells if c.cell_type == "code") if t])
        for number, cell in enumerate(nb.cells, 1):
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id"):
                info.numbers[meta["grade_id"]] = number
                (info.solution if meta.get("solution") else info.locked).add(meta["grade_id"])
            if cell.cell_type == "code":
                info.sources.add(_normal(cell.source))
                info.lines |= {line.strip() for line in cell.source.splitlines()}
        notebooks.append(info)
    return notebooks


# -- reading a submitted notebook (hostile bytes) ----------------------------------------------
def _code_cells(data: bytes, name: str) -> tuple:
    """([(cell number, grade id or None, source)] of the code cells, [problem lines]);
    never raises on content. A cell over similarity.MAX_CELL_CHARS comes with its source, and a line."""
    if len(data) > similarity.MAX_NOTEBOOK_BYTES:
        return [], [f"{name} is larger than {similarity.MAX_NOTEBOOK_BYTES >> 20} MB: not read"]
    try:
        nb = json.loads(data)
    except (ValueError, RecursionError) as err:
        return [], [f"{name} is not a readable notebook (malformed JSON: {str(err)[:80]})"]
    cells, key = (nb.get("cells"), "source") if isinstance(nb, dict) else (None, "source")
    if cells is None and isinstance(nb, dict) and isinstance(nb.get("worksheets"), list):   # nbformat 3
        cells, key = [c for w in nb["worksheets"] if isinstance(w, dict) and isinstance(w.get("cells"), list)
                      for c in w["cells"]], "input"
    if not isinstance(cells, list):
        return [], [f"{name} is not a notebook (no list of cells)"]
    if len(cells) > similarity.MAX_CELLS:
        return [], [f"{name} has {len(cells):,} cells (more than {similarity.MAX_CELLS:,}): not read"]
    found, problems = [], []
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata")
        nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
        grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
        source = cell.get(key)
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            problems.append(f"{name}: cell {number} has a source that is not text: not read")
            continue
        if len(source) > similarity.MAX_CELL_CHARS:
            problems.append(f"{name}: cell {number} has more than {similarity.MAX_CELL_CHARS:,} characters: "
                            f"read with patterns only")
        found.append((number, grade_id if isinstance(grade_id, str) else None, source))
    return found, problems


# -- looking through one cell ------------------------------------------------------------------
def _as_python(source: str):
    """The cell's text with IPython's %magic, !shell and help? lines turned into calls on their text
    (same line numbers), or None where it is not Python (a %%bash cell and the like)."""
    lines = source.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].lstrip()[2:].split(maxsplit=1)
        if not magic or magic[0] not in PYTHON_CELL_MAGICS:
            return None
        lines[first] = f"_ipython_magic({lines[first].strip()!r})"
    out = []
    for line in lines:
        stripped = line.strip()
        indent = line[:len(line) - len(line.lstrip())]
        assigned = re.match(r"^\s*([\w.]+(?:\s*,\s*[\w.]+)*)\s*=\s*([%!].*)$", line)
        if stripped.startswith(("%", "!")) or (stripped.endswith("?") and not stripped.startswith("#")):
            line = f"{indent}_ipython_magic({stripped!r})"
        elif assigned:
            line = f"{indent}{assigned.group(1)} = _ipython_magic({assigned.group(2).strip()!r})"
        out.append(line)
    return "\n".join(out)


def _aliases(trees: list) -> dict:
    """{name: what it stands for} from the imports (and `x = get_ipython()`, `env = os.environ`) of a notebook."""
    names, assigned = {"__builtins__": "builtins"}, []
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        names[a.asname] = a.name
                    else:
                        names.pop(a.name.split(".")[0], None)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    names[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                assigned.append(node)
    for node in assigned:                               # then simple assignments of those
        what = _chain(node.value, names)
        if what == "get_ipython()" or ("(" not in what and "[" not in what and what.startswith(
                ("os.", "sys.", "inspect.", "builtins", *KIT_PACKAGES))):
            names.setdefault(node.targets[0].id, what)
    return names


def _chain(node, names: dict) -> str:
    """A dotted name for an expression (`sys.meta_path`, `get_ipython().events.register`), aliases
    resolved; `?` for a part that is not a name."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append("." + node.attr)
            node = node.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            parts.append("." + node.args[1].value)
            node = node.args[0]
        elif isinstance(node, ast.Call):
            parts.append("()")
            node = node.func
        elif isinstance(node, ast.Subscript):
            parts.append("[]")
            node = node.value
        elif isinstance(node, ast.Name):
            parts.append(names.get(node.id, node.id))
            break
        else:
            parts.append("?")
            break
    return "".join(reversed(parts))


def _strings(node) -> list:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _is_kit(module: str) -> bool:
    return module.split(".")[0] in KIT_PACKAGES


def _module_findings(module: str) -> list:
    """(kind, what) for importing a module by this dotted name."""
    if module.startswith("i2dl_utils.probes"):
        return [("probes", f"imports the probes ({module})")]
    if any(module.startswith(f"i2dl_utils.checks.{m}") for m in CHECKS_INTERNALS):
        return [("checks", f"imports the checks' internals ({module})")]
    if module.split(".")[0] == "i2dl_course":
        return [("grader-package", f"imports the grader's package ({module})")]
    return []


class _Scan:
    """The touches in one parsed cell: [(line, kind, what)]."""

    def __init__(self, tree, names: dict):
        self.names, self.found = names, []
        self.parent = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        self.tree = tree
        self.tainted = self._tainted(tree) if any(
            w in s for s in _strings(tree) for w in ("I2DL_EXPORT_DIR", "I2DL_PROBE_INPUTS")) else set()

    def add(self, node, kind: str, what: str) -> None:
        self.found.append((getattr(node, "lineno", 1), kind, what))

    def top(self, node):
        """The cell's top-level statement holding node."""
        while self.parent.get(node) is not None and self.parent[node] is not self.tree:
            node = self.parent[node]
        return node

    def _tainted(self, tree) -> set:
        """Names whose value comes from the export folder's variable (assigned from it, or functions returning
        something built from it), to a fixed point."""
        tainted, changed, rounds = set(), True, 0
        while changed and rounds < MAX_TAINT_ROUNDS:
            changed, rounds = False, rounds + 1
            for node in ast.walk(tree):
                if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.For, ast.With,
                                     ast.FunctionDef, ast.AsyncFunctionDef)):
                    value = node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else (
                        node.iter if isinstance(node, ast.For) else node.items if isinstance(node, ast.With)
                        else node.value)
                    values = value if isinstance(value, list) else [value]
                    if not any(v is not None and self._from_export(v, tainted) for v in values):
                        continue
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        targets = [ast.Name(node.name)]
                    elif isinstance(node, ast.Assign):
                        targets = node.targets
                    elif isinstance(node, ast.With):
                        targets = [i.optional_vars for i in node.items if i.optional_vars is not None]
                    else:
                        targets = [node.target]
                    for t in targets:
                        for n in ast.walk(t):
                            if isinstance(n, ast.Name) and n.id not in tainted:
                                tainted.add(n.id)
                                changed = True
        return tainted

    def _from_export(self, node, tainted: set) -> bool:
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and (n.id in tainted or n.id in ("I2DL_EXPORT_DIR", "I2DL_PROBE_INPUTS")):
                return True
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and (
                    "I2DL_EXPORT_DIR" in n.value or "I2DL_PROBE_INPUTS" in n.value):
                return True
        return False

    def run(self) -> list:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for word in dict.fromkeys(STRING_PATTERN.findall(node.value[:similarity.MAX_CELL_CHARS])):
                    kind, what = STRING_WORDS[word]
                    self.add(node, kind, f"names {what} in a string")
            elif isinstance(node, ast.Name):
                self.name(node)
            elif isinstance(node, ast.Attribute):
                self.attribute(node)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                self.imports(node)
            elif isinstance(node, ast.Call):
                self.call(node)
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and any(
                    isinstance(t, ast.Name) and t.id == "__import__"
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])):
                self.add(node, "import-hook", "replaces __import__")
        return self.found

    def name(self, node) -> None:
        if node.id in WORDS:
            kind, what = WORDS[node.id]
            self.add(node, kind, f"uses {what}")
        chain = self.names.get(node.id, "")
        if chain in ("os.environ", "os.environb") and isinstance(node.ctx, ast.Load):
            self.environ(node)
        elif chain == "sys.modules" and isinstance(node.ctx, ast.Load):
            self.sys_modules(node)
        elif chain in FRAME_CALLS:
            self.add(node, "frames", f"uses {chain}: the callers' frames")

    def attribute(self, node) -> None:
        chain = _chain(node, self.names)
        store = isinstance(node.ctx, (ast.Store, ast.Del))
        if node.attr in WORDS:
            kind, what = WORDS[node.attr]
            self.add(node, kind, f"{'changes' if store else 'uses'} {what}")
        if chain in ("os.environ", "os.environb"):
            self.environ(node)
        elif chain == "sys.modules":
            self.sys_modules(node)
        elif chain in FRAME_CALLS:
            self.add(node, "frames", f"uses {chain}: the callers' frames")
        elif chain.endswith((".events.register", ".events.unregister", ".events.callbacks")):
            self.add(node, "ipython-hook", "registers an IPython event callback" if "register" in chain
                     else "changes IPython's event callbacks")
        if store:
            self.store(node, chain)

    def store(self, node, chain: str) -> None:
        base = chain.rsplit(".", 1)[0]
        if _is_kit(base) and "(" not in base and "[" not in base:
            self.add(node, "kit-patch", f"replaces {chain} in the kit")
        elif base.startswith("get_ipython()"):
            self.add(node, "ipython-hook", f"replaces {chain} of the IPython shell")
        elif chain in ("builtins.__import__", "importlib.__import__"):
            self.add(node, "import-hook", f"replaces {chain}")
        elif chain in ("sys.excepthook", "sys.displayhook", "sys.unraisablehook"):
            self.add(node, "exception-handler", f"replaces {chain}")

    def imports(self, node) -> None:
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif node.module and not node.level:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if node.module == "sys" and {a.name for a in node.names} & {"meta_path", "path_hooks", "modules"}:
                self.add(node, "import-hook", "imports the import system's finders from sys")
        else:
            modules = []
        for kind, what in dict.fromkeys(f for m in modules for f in _module_findings(m)):
            self.add(node, kind, what)

    def call(self, node) -> None:
        func = _chain(node.func, self.names)
        first = node.args[0] if node.args else None
        literal = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
        if func in ("setattr", "delattr", "object.__setattr__") and len(node.args) >= 2 and isinstance(
                node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            chain = f"{_chain(node.args[0], self.names)}.{node.args[1].value}"
            if node.args[1].value in WORDS:
                kind, what = WORDS[node.args[1].value]
                self.add(node, kind, f"changes {what}")
            self.store(node, chain)
        elif func in ("exec", "eval", "compile", "builtins.exec", "builtins.eval"):
            if literal is None:
                self.add(node, "dynamic-code", f"{func}() of a string built at run time (not readable here)")
            else:
                for _, kind, what in scan(literal, self.names)[:MAX_FINDINGS_PER_CELL]:
                    self.add(node, kind, f"in the text given to {func}(): {what}")
        elif func in ("__import__", "builtins.__import__", "importlib.import_module", "importlib.__import__"):
            if literal is None:
                self.add(node, "dynamic-code", f"{func}() of a module name built at run time")
            else:
                for kind, what in _module_findings(literal):
                    self.add(node, kind, what)
        elif func in ("os.getenv", "os.getenvb"):
            self.env_key(node, first, read=True)
        name = func.rsplit(".", 1)[-1].strip("()")
        if name in FILE_CALLS and self._from_export(node, self.tainted):
            self.add(node, "export-folder", f"{name}() on a path in the export folder")

    def env_key(self, node, key, read: bool) -> None:
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            if key.value.startswith("I2DL_") and key.value not in ("I2DL_EXPORT_DIR", "I2DL_PROBE_INPUTS") and read:
                self.add(node, "environment", f"reads ${key.value[:60]}")
        elif key is not None and read:
            self.add(node, "environment", "reads an environment variable by a name built at run time")

    def environ(self, node) -> None:
        parent = self.parent.get(node)
        grand = self.parent.get(parent)
        if isinstance(parent, ast.Subscript) and parent.value is node:
            self.env_key(parent, parent.slice, read=isinstance(parent.ctx, (ast.Load, ast.Del)))
        elif isinstance(parent, ast.Attribute) and parent.attr in ENV_GETTERS and isinstance(grand, ast.Call):
            self.env_key(grand, grand.args[0] if grand.args else None, read=True)
        elif isinstance(parent, ast.Attribute) and parent.attr in ENV_LISTING:
            self.add(node, "environment", "lists the whole environment (the export folder's variable with it)")
        elif isinstance(parent, (ast.Call, ast.For, ast.comprehension, ast.Starred, ast.Dict, ast.keyword)):
            if not (isinstance(parent, ast.Call) and parent.func is node):
                self.add(node, "environment", "reads the whole environment (the export folder's variable with it)")

    def sys_modules(self, node) -> None:
        parent = self.parent.get(node)
        key = parent.slice if isinstance(parent, ast.Subscript) and parent.value is node else None
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and _is_kit(key.value):
            self.add(node, "sys-modules", f"sys.modules[{key.value[:80]!r}]: a module of the kit")
        elif key is not None and isinstance(parent.ctx, (ast.Store, ast.Del)):
            self.add(node, "sys-modules", "changes an entry of sys.modules")
        elif isinstance(parent, ast.Attribute) and parent.attr in SYS_MODULES_WRITES:
            self.add(node, "sys-modules", f"changes sys.modules ({parent.attr})")
        elif any(p in s for s in _strings(self.top(node)) for p in KIT_PACKAGES) or any(
                isinstance(n, ast.Name) and _is_kit(self.names.get(n.id, "")) for n in ast.walk(self.top(node))):
            self.add(node, "sys-modules", "looks through sys.modules for the kit's modules")


def _patterns(source: str) -> list:
    found = []
    for number, line in enumerate(source[:MAX_REGEX_CHARS].splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        for pattern, kind, what in PATTERNS:
            if pattern.search(line):
                found.append((number, kind, f"{what} (found by pattern: the cell is not valid Python)"))
    return found


def parse(source: str):
    """The cell's syntax tree, or None."""
    text = _as_python(source) if len(source) <= similarity.MAX_CELL_CHARS else None
    if text is None:
        return None
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def scan(source: str, names: dict = None, tree=None, parsed: bool = False) -> list:
    """[(line, kind, what)] of one cell's touches, one per line and kind, in order (tree: the cell's parse,
    given where parsed)."""
    tree = tree if parsed else parse(source)
    try:
        found = _Scan(tree, names or {}).run() if tree is not None else _patterns(source)
    except RecursionError:
        found = _patterns(source)
    seen, out = set(), []
    for line, kind, what in sorted(found, key=lambda f: f[0]):
        if (line, kind) not in seen:
            seen.add((line, kind))
            out.append((line, kind, what))
    return out


# -- the review ---------------------------------------------------------------------------------
def _line(source: str, number: int) -> str:
    lines = source.splitlines()
    text = lines[number - 1].strip() if number and 0 < number <= len(lines) else ""
    return text if len(text) <= MAX_CODE_CHARS else text[:MAX_CODE_CHARS - 1] + "…"


@dataclass
class Added:
    """A cell a student added (or changed), for the comparison across submissions."""
    student: str
    notebook: str
    cell: int
    source: str


def _review(folder: Path, release: list, assignment: str) -> tuple:
    """(students read, [Finding] of touches, [Added], [problem lines])."""
    by_name = {nb.name: nb for nb in release}
    students, findings, added, problems = 0, [], [], []
    for student, origin, error in collect.find(folder):
        if error:
            problems.append(f"{student}: {error}")
            continue
        students += 1
        sub = collect.collect(student, origin, assignment, notebooks=[Path(n).stem for n in by_name], extra_files=())
        problems += [f"{student}: {note}" for note in sub.notes]
        for name, info in by_name.items():
            data = sub.files.get(name)
            if data is None:
                continue
            cells, notes = _code_cells(data, name)
            problems += [f"{student}: {note}" for note in notes]
            own = [(number, grade_id, source) for number, grade_id, source in cells
                   if grade_id not in info.locked                 # grading puts the release's cell back
                   and (grade_id in info.solution or _normal(source) not in info.sources)]   # not the release's
            trees = {number: parse(source) for number, _, source in own}
            names = dict(info.aliases, **_aliases([t for t in trees.values() if t is not None]))
            for number, grade_id, source in own:
                if grade_id not in info.solution:
                    added.append(Added(student, name, number, source))
                touches = scan(source, names, trees[number], parsed=True)
                for line, kind, what in touches[:MAX_FINDINGS_PER_CELL]:
                    findings.append(Finding(student, kind, name, number, line, grade_id or "", what,
                                            _line(source, line)))
                if len(touches) > MAX_FINDINGS_PER_CELL:
                    findings.append(Finding(student, touches[MAX_FINDINGS_PER_CELL][1], name, number, None,
                                            grade_id or "", f"and {len(touches) - MAX_FINDINGS_PER_CELL} more "
                                            f"findings in this cell (not listed)"))
    return students, findings, added, problems


def _groups(added: list, release: list, source_dir: Path, threshold: float) -> list:
    """Groups of added cells found in more than one submission: [[(Added, Cell)], ...], biggest first."""
    template = set().union(*(nb.lines for nb in release)) if release else set()
    task = similarity.Task("added cells", "added", template)
    for path in sorted(Path(source_dir).glob("*.ipynb")):   # the kit's own code is not evidence
        for c in nbformat.read(path, 4).cells:
            if c.cell_type == "code":
                kit = similarity.Cell("kit", c.source)
                similarity._fingerprint(kit, template, window=1)
                task.kit |= kit.hashes
    owner = {}
    for a in added:
        cell = similarity.Cell(a.student, a.source)
        similarity._fingerprint(cell, template)
        task.cells.append(cell)
        owner[id(cell)] = a
    root = {id(c): id(c) for c in task.cells}

    def find(x):
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    same = {}                                   # the same fingerprints (beyond the kit's): one cell, copied
    for cell in task.cells:
        own = frozenset(cell.hashes - task.kit)
        if len(own) >= similarity.MIN_FINGERPRINTS:
            same.setdefault(own, []).append(cell)
    for cells in same.values():
        for c in cells[1:]:
            root[find(id(c))] = find(id(cells[0]))
    similarity._compare(task, threshold)        # near copies (renamed, reordered): shared fingerprints
    for p in task.pairs:
        if p.flagged and p.a.student != p.b.student:
            root[find(id(p.a))] = find(id(p.b))
    members = {}
    for cell in task.cells:
        members.setdefault(find(id(cell)), []).append((owner[id(cell)], cell))
    groups = [g for g in members.values() if len({a.student for a, _ in g}) > 1]
    return sorted(groups, key=lambda g: (-len({a.student for a, _ in g}), g[0][0].student, g[0][0].cell))


def read_measures(done_dir: Path) -> dict:
    """{student: {grade id: accuracy}} from the grader's markers (<student>.json, key "measures");
    a marker that is missing, unreadable or without measures gives none, a value that is not a number
    in [0, 1] is left out."""
    measures = {}
    try:
        paths = sorted(Path(done_dir).glob("*.json"))
    except OSError:
        return measures
    for path in paths:
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_MEASURE_BYTES:
                continue
            data = json.loads(path.read_text())
        except (OSError, ValueError, RecursionError):
            continue
        values = data.get("measures") if isinstance(data, dict) else None
        if isinstance(values, dict):
            good = {k: float(v) for k, v in values.items() if isinstance(k, str) and isinstance(v, (int, float))
                    and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= 1}
            if good:
                measures[path.stem] = good
    return measures


def _accuracies(measures: dict, release: list, limit: float) -> list:
    where = {gid: (nb.name, number) for nb in release for gid, number in nb.numbers.items()}
    found = []
    for student in sorted(measures or {}, key=str):
        values = measures[student] if isinstance(measures[student], dict) else {}
        for grade_id, value in sorted(values.items(), key=lambda kv: str(kv[0])):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
                    and value > limit:
                notebook, number = where.get(grade_id, ("", None))
                found.append(Finding(str(student), "accuracy", notebook, number, None, str(grade_id),
                                     f"accuracy {value:.3f} measured by the grader, above {limit:.2f}"))
    return found


# -- writing ------------------------------------------------------------------------------------
COLUMNS = ["student", "kind", "notebook", "cell", "line", "grade_id", "detail", "code"]


def _cell_text(value) -> str:
    """A CSV field a spreadsheet shows as text (no formula from a student's line)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _write_csv(path: Path, findings: list) -> None:
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for f in findings:
            out.writerow([_cell_text(getattr(f, c)) for c in COLUMNS])


def rules(limit: float, threshold: float) -> str:
    return (f"A flag is for a human: it never changes a score. Touches: the code students wrote or added "
            f"(solution cells, and code cells that are not the release's own) is parsed, never run, and looked "
            f"through for the grading channel: {'; '.join(v for k, v in KINDS.items() if k not in ('copied-cell', 'accuracy'))}. "
            f"Cells a student added are compared across submissions like solution cells in the similarity "
            f"report (the release's lines and the kit's code are not evidence, cells with fewer than "
            f"{similarity.MIN_FINGERPRINTS} fingerprints are not compared; the same fingerprints, or a share of "
            f"{threshold:.2f}, make one group). Accuracies the grader measured are flagged above {limit:.2f}: "
            f"{CALIBRATION}.")


STYLE = similarity.STYLE + "\ncode{background:#f6f6f6}td.k{white-space:nowrap}"


def _write_html(path: Path, students: int, findings: list, groups: list, problems: list, head: str) -> None:
    e = html.escape
    touches = [f for f in findings if f.kind not in ("copied-cell", "accuracy")]
    accuracy = [f for f in findings if f.kind == "accuracy"]
    flagged = sorted({f.student for f in findings})
    parts = []
    if touches:
        parts.append(f"{len({f.student for f in touches})} whose code touches the grading channel")
    if groups:
        parts.append(f"{len({a.student for g in groups for a, _ in g})} with an added cell another submission has "
                     f"({len(groups)} group(s))")
    if accuracy:
        parts.append(f"{len({f.student for f in accuracy})} with an accuracy above the limit")
    verdict = (f"{len(flagged)} submission(s) to look at: " + "; ".join(parts) + ". A flag never changes a score."
               if flagged else "Nothing to review: no submission touches the grading channel, shares an added "
                               "cell or has an accuracy above the limit.")
    h = [f"<!doctype html><meta charset=utf-8><title>Integrity review</title><style>{STYLE}</style>",
         "<h1>Integrity review</h1>", f'<p class="verdict">{e(verdict)}</p>', f"<p>{e(head)}</p>"]
    if flagged:
        h.append("<h2>Submissions to look at</h2><table><tr><th>student</th><th>what</th></tr>")
        for student in flagged:
            kinds = sorted({f.kind for f in findings if f.student == student})
            h.append(f"<tr><td>{e(student)}</td><td>{e(', '.join(KINDS.get(k, k) for k in kinds))}</td></tr>")
        h.append("</table>")
    h.append("<h2>Code that touches the grading channel</h2>")
    if touches:
        h.append("<table><tr><th>student</th><th>where</th><th>kind</th><th>what</th><th>line</th></tr>")
        for f in touches[:MAX_ROWS_SHOWN]:
            where = f"{f.notebook} cell {f.cell}" + (f" ({f.grade_id})" if f.grade_id else "") + (
                f", line {f.line}" if f.line else "")
            h.append(f"<tr><td>{e(f.student)}</td><td>{e(where)}</td><td class=k>{e(f.kind)}</td>"
                     f"<td>{e(f.detail)}</td><td><code>{e(f.code)}</code></td></tr>")
        h.append("</table>")
        if len(touches) > MAX_ROWS_SHOWN:
            h.append(f"<p>The first {MAX_ROWS_SHOWN} rows only; all are in integrity.csv.</p>")
    else:
        h.append("<p>none</p>")
    h.append("<h2>Added cells that more than one submission has</h2>")
    if groups:
        for n, group in enumerate(groups[:MAX_GROUPS_SHOWN], 1):
            who = ", ".join(f"{a.student} ({a.notebook} cell {a.cell})" for a, _ in group)
            size = len({a.student for a, _ in group})
            most = " (more than half of the submissions: perhaps code handed to the whole class)" if (
                size > max(2, students / 2)) else ""
            h.append(f"<h3>Group {n}: {size} submissions{most}</h3><p>{e(who)}</p>"
                     f"<pre>{e(group[0][0].source[:20_000])}</pre>")
        if len(groups) > MAX_GROUPS_SHOWN:
            h.append(f"<p>The {MAX_GROUPS_SHOWN} biggest groups only; all are in integrity.csv.</p>")
    else:
        h.append("<p>none</p>")
    h.append("<h2>Accuracies above what 300 labels reach</h2>")
    if accuracy:
        h.append("<table><tr><th>student</th><th>test</th><th>what</th></tr>")
        h += [f"<tr><td>{e(f.student)}</td><td>{e(f.notebook)}: {e(f.grade_id)}</td><td>{e(f.detail)}</td></tr>"
              for f in accuracy[:MAX_ROWS_SHOWN]]
        h.append("</table>")
    else:
        h.append("<p>none</p>")
    h.append("<h2>Submissions not read in full (no evidence either way)</h2>")
    h.append("<ul>" + "".join(f"<li>{e(p)}</li>" for p in problems) + "</ul>" if problems else "<p>none</p>")
    path.write_text("\n".join(h))


def report(submissions: Path, out_dir: Path, source_dir: Path, release_dir: Path, assignment: str,
           measures: dict = None, limit: float = ACCURACY_LIMIT, threshold: float = similarity.THRESHOLD) -> Path:
    """Write integrity.csv (one row per finding) and integrity.html into out_dir; the HTML's path.

    measures: {student: {grade id: accuracy}} as the grader recorded them (read_measures).
    """
    release = _release(release_dir)
    students, findings, added, problems = _review(Path(submissions), release, assignment)
    groups = _groups(added, release, source_dir, threshold)
    for n, group in enumerate(groups, 1):
        for a, _ in group:
            others = sorted({b.student for b, _ in group} - {a.student})
            shown = ", ".join(others[:10]) + (f" and {len(others) - 10} more" if len(others) > 10 else "")
            findings.append(Finding(a.student, "copied-cell", a.notebook, a.cell, None, "",
                                    f"group {n}: the same added cell as {shown}", _line(a.source, 1)))
    findings += _accuracies(measures, release, limit)
    findings.sort(key=lambda f: (f.student, f.kind in ("copied-cell", "accuracy"), f.notebook, f.cell or 0,
                                 f.line or 0))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(out_dir / "integrity.csv", findings)
    head = (f"{students} submission(s), {len(added)} added or changed code cell(s); "
            f"measures of {len(measures or {})} submission(s). " + rules(limit, threshold))
    _write_html(out_dir / "integrity.html", students, findings, groups, problems, head)
    return out_dir / "integrity.html"
