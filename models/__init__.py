"""The models that ship with liveimpro, one folder each (``model.json``, ``weights.npz``, card).

This folder is installed as the package ``liveimpro.models`` (pyproject.toml maps it), so an
installed liveimpro carries its models and finds them here, editable or not. It imports nothing
of liveimpro, so any layer may import it. ``python -m training export`` adds new models here.
"""

from importlib.resources import files
from pathlib import Path

# A wheel installs unzipped, so the package's resources are a real folder.
SHIPPED_MODELS_DIR = Path(str(files(__name__)))
