"""nbgrader's Python API configured from the course's nbgrader_config.py."""
import logging
import tempfile
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from i2dl_utils import config


def course_config(root: Path = None, overrides: Config = None) -> Config:
    """The course's nbgrader_config.py, with `overrides` merged on top."""
    root = Path(root or config.course_root()).resolve()
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    cfg.CourseDirectory.root = str(root)
    # No exchange is used (files are copied); a private one keeps nbgrader from probing /srv.
    cfg.Exchange.root = str(Path(tempfile.gettempdir()) / "i2dl-nbgrader-exchange")
    if overrides is not None:
        cfg.merge(overrides)
    return cfg


def make_api(root: Path = None, overrides: Config = None, quiet: bool = True) -> NbGraderAPI:
    config.interpreter_tools_on_path()   # nbgrader runs `alembic` from PATH to create a gradebook
    cfg = course_config(root, overrides)
    api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
    if quiet:
        api.log.setLevel(logging.ERROR)
    return api


def check(result: dict, action: str) -> dict:
    """Raise with nbgrader's own log and traceback when an API action failed."""
    if not result.get("success"):
        raise RuntimeError(f"nbgrader {action} failed:\n{result.get('log', '')}\n{result.get('error', '')}")
    return result
