"""Loading a model off the main loop: file read, checksum and engine tables take too long for it.

liveimpro.control.commands asks for a model here and swaps the continuation in on the main
loop, between phrases.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from liveimpro.config.settings import Settings
from liveimpro.core.continuation import Continuation, load_continuation


class ModelLoader:
    """Loads models on a thread of its own, never on the main loop."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="liveimpro loader")

    def load(self, name: str, settings: Settings) -> Future[tuple[str, Continuation]]:
        """The model's name and a continuation over it, configured by ``settings``."""
        return self._executor.submit(self._load, name, settings)

    @staticmethod
    def _load(name: str, settings: Settings) -> tuple[str, Continuation]:
        model, continuation = load_continuation(settings, name)
        return model.name, continuation

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
