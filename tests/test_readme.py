"""The README's configuration reference and test command stay in step with the code."""

import re
from pathlib import Path

from liveimpro.config.fields import field_specs
from liveimpro.config.settings import section_types

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented():
    for name, section in section_types().items():
        for key in field_specs(section):
            assert f"`{name}.{key}`" in README or re.search(
                rf"`{name}\.\w+`, `{name}\.{key}`", README
            ), f"{name}.{key} missing from the README's configuration table"


def test_ci_runs_the_readme_test_command_verbatim():
    command = re.search(r"\*\*Test\.\*\*.*?\n    (\S[^\n]*)\n", README, re.S)[1]
    assert "pytest" in command and "jackd2" in command
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
