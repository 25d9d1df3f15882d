"""nbgrader's Python API configured from the course's nbgrader_config.py.

The configuration file is code: `course_config` executes it, and `i2dl grade` does that once, when
it starts, before any submission is read; every later nbgrader call gets that Config object.
"""
import copy
import logging
import tempfile
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from i2dl_utils import config


def course_config(root: Path = None) -> Config:
    """The course's nbgrader_config.py (read now), with the course root set absolute."""
    root = Path(root or config.course_root()).resolve()
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    cfg.CourseDirectory.root = str(root)
    # No exchange is used (files are copied); an empty one keeps nbgrader from probing /srv.
    exchange = Path(tempfile.gettempdir()) / "i2dl-nbgrader-exchange"
    exchange.mkdir(exist_ok=True)
    cfg.Exchange.root = str(exchange)
    return cfg


def make_api(cfg: Config, overrides: Config = None, quiet: bool = True) -> NbGraderAPI:
    """An NbGraderAPI on a copy of `cfg` with `overrides` merged on top (no file is read)."""
    config.interpreter_tools_on_path()   # nbgrader runs `alembic` from PATH to create a gradebook
    cfg = Config(copy.deepcopy(cfg))
    if overrides is not None:
        cfg.merge(overrides)
    api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
    if quiet:
        api.log.setLevel(logging.ERROR)
    return api


def check(result: dict, action: str) -> dict:
    """Raise with nbgrader's own log and traceback when an API action failed."""
    if not result.get("success"):
        raise RuntimeError(f"nbgrader {action} failed:\n{result.get('log', '')}\n{result.get('error', '')}")
    return result
