"""``pip install .`` as a user does it: the wheel, installed in a fresh venv, carries its models.

The wheel is built offline (no build isolation) from a copy of the sources, so the checkout gets
no ``build/`` folder. The venv sees the system's packages for the dependencies, and the system
may hold an editable install of this repository, so every command runs outside the checkout and
the test checks that the venv's own copy of liveimpro is the one that runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD_INPUTS = ("pyproject.toml", "README.md", "liveimpro", "models", "training")
SHIPPED = ("chorale", "folk")
CODE_ALLOWANCE = 5 * 2**20  # bytes the wheel may hold besides the models

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    site_packages: Path
    workdir: Path  # outside the checkout

    def run(self, *command: str) -> str:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        done = subprocess.run(
            command, cwd=self.workdir, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def python(self, code: str) -> str:
        return self.run(str(self.venv / "bin" / "python"), "-c", code).strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("packaging")
    sources = tmp / "sources"
    sources.mkdir()
    ignored = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, sources / name, ignore=ignored)
        else:
            shutil.copy2(ROOT / name, sources / name)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip_wheel, "-w", str(tmp / "dist"), str(sources)], check=True)
    (wheel,) = (tmp / "dist").glob("liveimpro-*.whl")

    venv = tmp / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
    )
    workdir = tmp / "work"
    workdir.mkdir()
    # --ignore-installed: the system's liveimpro (perhaps editable) stays as it is.
    pip_install = ["-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", str(wheel)]
    subprocess.run([str(venv / "bin" / "python"), *pip_install], check=True, cwd=workdir)
    probe = Installed(wheel, venv, venv, workdir)
    site_packages = Path(probe.python("import sysconfig; print(sysconfig.get_path('purelib'))"))
    return Installed(wheel, venv, site_packages, workdir)


def test_the_wheel_is_liveimpro_and_its_models_only(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"liveimpro", "liveimpro-0.1.0.dist-info"}
    inits = ROOT.glob("liveimpro/**/__init__.py")
    packages = {str(init.parent.relative_to(ROOT)) for init in inits}
    assert packages <= {name.rsplit("/", 1)[0] for name in names}, "missing from pyproject"
    for model in SHIPPED:
        assert f"liveimpro/models/{model}/model.json" in names
        assert f"liveimpro/models/{model}/weights.npz" in names
    models_size = sum(path.stat().st_size for path in (ROOT / "models").glob("*/*"))
    assert installed.wheel.stat().st_size < models_size + CODE_ALLOWANCE


def test_the_venv_runs_its_own_copy_with_the_models_inside(installed: Installed) -> None:
    code = (
        "import liveimpro, liveimpro.models, liveimpro.harness.demo as demo; "
        "print(liveimpro.__file__); print(liveimpro.models.SHIPPED_MODELS_DIR); "
        "print(demo.DEMO_PHRASE)"
    )
    package, models, demo_phrase = map(Path, installed.python(code).splitlines())
    site = installed.site_packages
    assert package == site / "liveimpro" / "__init__.py"
    assert models == site / "liveimpro" / "models"
    assert demo_phrase.is_file() and demo_phrase.is_relative_to(site)
    assert all((models / model / "weights.npz").is_file() for model in SHIPPED)
    assert not [path for path in site.iterdir() if path.name.startswith("training")]


def test_the_installed_command_lists_and_plays_the_shipped_models(installed: Installed) -> None:
    command = str(installed.venv / "bin" / "liveimpro")
    listed = installed.run(command, "models")
    assert [line.split(":")[0] for line in listed.splitlines()] == list(SHIPPED)

    phrase = installed.site_packages / "liveimpro" / "harness" / "demo.mid"
    answer = installed.workdir / "answer.mid"
    printed = installed.run(command, "continue", str(phrase), "-o", str(answer), "--seed", "1")
    assert answer.stat().st_size > 0
    assert "continuation notes" in printed and "model folk" in printed
