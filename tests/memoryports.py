"""Memory ports for tests: an input fed by hand and an output that records what it sends.

Their clock is whatever ``now`` the test passes in.
"""

from __future__ import annotations

from collections.abc import Callable

import mido

from liveimpro.midi.ports import (
    DEFAULT_INPUT_NAME,
    DEFAULT_OUTPUT_NAME,
    InputPort,
    OutputPort,
    retimed,
)


class MemoryInputPort(InputPort):
    """An input fed by the test through ``inject``; arrival times come from ``now``."""

    def __init__(self, name: str = DEFAULT_INPUT_NAME, *, now: Callable[[], float]) -> None:
        super().__init__(name)
        self._now = now

    def now(self) -> float:
        return self._now()

    def inject(self, data: bytes) -> None:
        """Bytes arriving on the wire now, handled exactly as a backend callback would."""
        self._deliver(bytes(data), self._now())

    def _close(self) -> None:
        pass


class MemoryOutputPort(OutputPort):
    """An output that records what it is asked to send.

    ``sent`` holds the messages sent now, stamped with ``now()``; ``scheduled`` holds
    those given to send_at, stamped with their time, until panic() cancels them.
    """

    def __init__(self, name: str = DEFAULT_OUTPUT_NAME, *, now: Callable[[], float]) -> None:
        super().__init__(name)
        self._now = now
        self.sent: list[mido.Message] = []
        self.scheduled: list[mido.Message] = []

    def now(self) -> float:
        return self._now()

    def _send(self, message: mido.Message) -> None:
        self.sent.append(message.copy(time=self._now()))

    def _send_at(self, message: mido.Message, when: float) -> None:
        self.scheduled.append(message.copy(time=when))

    def _cancel_pending(self) -> None:
        self.scheduled.clear()

    def _retime(self, pivot: float, ratio: float) -> None:
        self.scheduled = [m.copy(time=retimed(m.time, pivot, ratio)) for m in self.scheduled]

    def _close(self) -> None:
        pass
