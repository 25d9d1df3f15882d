"""The two install routes (pip via pyproject, conda via environment.yml) agree."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ ;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_packages_and_ranges_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env_lines = [line.strip()[2:].strip() for line in (ROOT / "environment.yml").read_text().splitlines()
                 if line.strip().startswith("- ") and line.startswith("      ")]
    pip_reqs = [r for r in env_lines if not r.startswith("-")]
    assert sorted(project["dependencies"]) == sorted(pip_reqs)
    assert "-e ." in env_lines


def test_constraints_pin_every_direct_dependency_and_the_cpu_torch():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {_name(line): line.split("==")[1] for line in (ROOT / "constraints.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")}
    assert pins["torch"] == "2.13.0"
    assert {_name(r) for r in project["dependencies"]} <= set(pins)
