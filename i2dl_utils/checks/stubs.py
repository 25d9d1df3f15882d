"""Self-checks on unfilled stubs: a NotImplementedError from a student's `raise
NotImplementedError()` becomes one line naming every unfilled function the check (or the
cell) uses and what to do. Importing this module installs the IPython handler."""
import ast
import functools
import inspect
import linecache
import re
import sys
import textwrap
from pathlib import Path

STUB_LINE = re.compile(r"^\s*raise\s+NotImplementedError\b")
# Code here is never a student's stub: the kit itself, the venv (torch's own NotImplementedErrors).
_LIBRARIES = tuple({str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, Path(__file__).parent.parent)})


class NotImplementedYet(NotImplementedError):
    """A self-check met a stub the student has not filled in yet: shown as its one-line message."""

    def _render_traceback_(self) -> list:        # IPython shows this instead of a traceback
        return [f"{type(self).__name__}: {self}"]


def _raises_not_implemented(function) -> bool:
    """Whether the function's own source holds a `raise NotImplementedError` statement."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                return True
    return False


def unimplemented(*objects) -> list:
    """Names of the given functions, and of the given classes' own methods, that still raise
    NotImplementedError (e.g. ['random_shift', 'Classifier.training_step']), in the given order."""
    names = []
    for obj in objects:
        if inspect.isclass(obj):
            for name, member in vars(obj).items():
                member = getattr(member, "__func__", getattr(member, "fget", member))
                if inspect.isfunction(member) and _raises_not_implemented(member):
                    names.append(f"{obj.__name__}.{name}")
        elif inspect.isfunction(obj) and _raises_not_implemented(obj):
            names.append(obj.__name__)
    return list(dict.fromkeys(names))


def stub_that_raised(tb):
    """If the traceback ends on a `raise NotImplementedError` line outside the kit and its
    libraries (a student's stub): the qualified name of that function ('<module>' for a cell's
    top level). Else None."""
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    if not code.co_filename.startswith("<") and str(Path(code.co_filename).resolve()).startswith(_LIBRARIES):
        return None
    line = linecache.getline(code.co_filename, tb.tb_lineno, tb.tb_frame.f_globals)
    return getattr(code, "co_qualname", code.co_name) if STUB_LINE.match(line) else None


def not_implemented_message(names) -> str:
    """One line: which functions are still stubs, and what to do."""
    names = [n for n in names if n != "<module>"]
    if not names:
        return ("This cell is not filled in yet: write your code under its `# TODO` in place of "
                "`raise NotImplementedError()`, then run it again.")
    if len(names) == 1:
        return (f"{names[0]} is not implemented yet: write your code under its `# TODO` in place of "
                "`raise NotImplementedError()`, run that cell, then run this one again.")
    listed = ", ".join(names[:-1]) + " and " + names[-1]
    return (f"{listed} are not implemented yet: write your code under each one's `# TODO` in place of "
            "`raise NotImplementedError()`, run those cells, then run this one again.")


def reports_stubs(check):
    """Decorator for self-checks that take the student's functions or classes: when one of them is
    still an unfilled stub, raise NotImplementedYet naming every unfilled one among the arguments
    (instead of a bare NotImplementedError); any other failure passes through unchanged."""
    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except NotImplementedYet:
            raise
        except NotImplementedError as error:
            raiser = stub_that_raised(error.__traceback__)
            if raiser is None:
                raise
            names = unimplemented(*args, *kwargs.values())
            if raiser not in names:
                names.insert(0, raiser)
            raise NotImplementedYet(not_implemented_message(names)) from None
    return wrapper


def _cell_names(shell, tb) -> list:
    """Names (in order of appearance) used by the notebook cell the traceback starts in."""
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_globals is shell.user_ns and frame.f_code.co_name == "<module>":
            try:
                tree = ast.parse("".join(linecache.getlines(frame.f_code.co_filename)))
            except SyntaxError:
                return []
            names = sorted((n.lineno, n.col_offset, n.id) for n in ast.walk(tree) if isinstance(n, ast.Name))
            return list(dict.fromkeys(name for _, _, name in names))
        tb = tb.tb_next
    return []


def _show_stub_error(shell, etype, value, tb, tb_offset=None):
    """IPython custom exception handler: a NotImplementedError from an unfilled stub becomes one
    readable line naming the unfilled functions the cell uses; anything else, the usual traceback."""
    if isinstance(value, NotImplementedYet):
        message = str(value)
    else:
        raiser = stub_that_raised(tb)
        if raiser is None:
            shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
            return None
        names = []
        if raiser != "<module>":
            names = unimplemented(*[shell.user_ns[n] for n in _cell_names(shell, tb) if n in shell.user_ns])
        message = not_implemented_message(names if raiser in names else [raiser] + names)
    shell._showtraceback(etype, value, [f"{etype.__name__}: {message}"])
    return None


def install_stub_messages() -> None:
    """In an IPython kernel, show a NotImplementedError from an unfilled stub as one readable line
    (a custom exception handler somebody else installed is left alone)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "custom_exceptions", ()) not in ((), (NotImplementedError,)):
        return
    shell.set_custom_exc((NotImplementedError,), _show_stub_error)


install_stub_messages()
