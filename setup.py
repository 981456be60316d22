"""The one part of the layout pyproject.toml cannot state: the repository's top-level ``models/``
folder is installed as the package ``liveimpro.models``, beside the packages under ``liveimpro/``.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["liveimpro*"]), "liveimpro.models"],
    package_dir={"liveimpro.models": "models"},
)
