"""Commands applied to the improviser: one handler per command of liveimpro.control.protocol.

Two threads meet here. ``answer`` runs on the control thread (or on the main loop, for a
mapped MIDI controller): it checks the request against the settings' own specs and the
improviser's state, queues what must change and replies at once, so a reply never waits
on the main loop's 2 ms input poll. ``handle`` and ``update`` run on the main loop, in
place of the improviser's own: they apply the queued changes at the start of the next
turn, so real-time state is only ever touched by that one thread. Loading a model happens on
a loader thread (liveimpro.control.modelloader); only the swap runs on the loop, between
phrases (see Improviser.replace_continuation).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import Any

import mido

from liveimpro.config.fields import check_value
from liveimpro.config.settings import Settings
from liveimpro.control.ccmap import CcMap
from liveimpro.control.events import EventSink
from liveimpro.control.modelloader import ModelLoader
from liveimpro.control.protocol import COMMANDS, PARAMETERS, Request, error_reply
from liveimpro.control.reporter import Reporter
from liveimpro.core.continuation import Continuation
from liveimpro.core.modelfile import available_models
from liveimpro.errors import Refused, UserError
from liveimpro.live.improviser import Improviser
from liveimpro.live.takes import Take

Reply = dict[str, Any]


def user_reply(cmd: str, produce: Callable[[], dict[str, Any]]) -> Reply:
    """``{"ok": True, ...}`` with what ``produce`` returns, or the user error it raised."""
    try:
        return {"ok": True, **produce()}
    except UserError as error:
        return error_reply(f"{cmd}: {error}")


class Controls:
    """Requests from clients and controllers, applied to ``improviser`` on the main loop."""

    def __init__(
        self,
        improviser: Improviser,
        events: EventSink,
        model_name: str,
        loader: ModelLoader | None = None,
    ) -> None:
        self.improviser = improviser
        self.events = events
        self.model_name = model_name
        self.loader = loader or ModelLoader()
        self.reporter = Reporter(improviser, events)
        # The settings as last set; the main loop catches up at its next turn.
        self.settings = improviser.settings
        self._lock = threading.Lock()  # orders settings changes and their queueing
        self._actions: queue.SimpleQueue[Callable[[float], None]] = queue.SimpleQueue()
        self._next_model: tuple[str, Continuation] | None = None  # loaded, not yet swapped in
        self.models = available_models(self.settings.model.models_path())
        self.ccmap = CcMap(self.settings, self.models)
        self._handlers: dict[str, Callable[..., dict[str, Any]]] = {
            "ping": self._ping,
            "status": self._status,
            "get": self._get,
            "set": self._set,
            "panic": partial(self._queue_action, "panic", improviser.panic),
            "mute": partial(self._queue_action, "mute", improviser.mute),
            "unmute": partial(self._queue_action, "unmute", improviser.unmute),
            "loop": partial(self._replay, "loop", improviser.loop),
            "mutate": partial(self._replay, "mutate", improviser.mutate),
            "models": self._models,
            "load_model": self._load_model,
        }
        assert self._handlers.keys() == COMMANDS.keys()

    # Any thread --------------------------------------------------------------------------

    def answer(self, request: Request, source: str = "control") -> Reply | Future[Reply]:
        """The reply to a parsed request; changes are queued for the main loop.

        load_model's reply is a Future, settled once the model is loaded: whoever serves
        the requests answers others (a panic) meanwhile.
        """
        call = partial(self._handlers[request.cmd], source=source, **request.params)
        if request.cmd == "load_model":
            return call()
        return user_reply(request.cmd, call)

    def request_model(self, name: str) -> Future[tuple[str, Continuation]]:
        """Load ``name`` off the main loop; it is swapped in at the next phrase."""
        future = self.loader.load(name, self.settings)
        future.add_done_callback(lambda done: self._actions.put(partial(self._loaded, done)))
        return future

    def parameters(self) -> dict[str, Any]:
        settings = self.settings
        return {
            name: getattr(getattr(settings, section.SECTION), key)
            for name, (section, key) in PARAMETERS.items()
        }

    def _ping(self, source: str) -> dict[str, Any]:
        return {"pong": True}

    def _status(self, source: str) -> dict[str, Any]:
        improviser = self.improviser
        clock = improviser.clock
        return {
            "state": "muted" if improviser.muted else improviser.state,
            "model": self.model_name,
            "next_model": None if self._next_model is None else self._next_model[0],
            "tempo": round(clock.bpm, 3),
            "clock": {"source": self.settings.clock.source, "rolling": clock.rolling},
            "tick": self.reporter.tick,
            "parameters": self.parameters(),
            "counters": self.reporter.counters(),
        }

    def _get(self, source: str, name: str | None = None) -> dict[str, Any]:
        if name is None:
            return {"parameters": self.parameters()}
        return {"name": name, "value": self.parameters()[name]}

    def _set(self, source: str, name: str, value: Any) -> dict[str, Any]:
        section_cls, key = PARAMETERS[name]
        if name == "tempo" and self.settings.clock.source == "external":
            raise Refused(
                "the tempo follows the external MIDI clock (clock.source = 'external'); "
                "change it at the source"
            )
        checked = check_value(section_cls, key, value)
        with self._lock:
            section = getattr(self.settings, section_cls.SECTION)
            changed = {section_cls.SECTION: dataclasses.replace(section, **{key: checked})}
            self.settings = dataclasses.replace(self.settings, **changed)
            apply = partial(self._retune, self.settings, name, checked, source)
            self._actions.put(apply)
        return {"name": name, "value": checked}

    def _queue_action(self, name: str, action: Callable[[], None], source: str) -> dict[str, Any]:
        self._actions.put(partial(self._act, name, lambda _now: action(), source))
        return {}

    def _replay(
        self, name: str, action: Callable[[float, Take | None], None], source: str
    ) -> dict[str, Any]:
        refusal = self.improviser.replay_refusal(name, self.reporter.last_take)
        if refusal is not None:
            raise Refused(refusal)
        replay = partial(self._act, name, lambda now: action(now, self.reporter.last_take), source)
        self._actions.put(replay)
        return {}

    def _models(self, source: str) -> dict[str, Any]:
        self.models = available_models(self.settings.model.models_path())
        return {"models": self.models, "current": self.model_name}

    def _load_model(self, source: str, name: str) -> Future[Reply]:
        reply: Future[Reply] = Future()

        def settle(loading: Future[tuple[str, Continuation]]) -> None:
            def loaded() -> dict[str, Any]:
                return {"model": loading.result()[0], "takes_effect": "at the next phrase"}

            try:
                reply.set_result(user_reply("load_model", loaded))
            except BaseException as error:  # a bug: the control server reports it
                reply.set_exception(error)

        self.request_model(name).add_done_callback(settle)
        return reply

    # Main loop ---------------------------------------------------------------------------

    def handle(self, message: mido.Message) -> None:
        """An input message: a mapped controller's, or the improviser's."""
        if self.ccmap.claims(message):
            self._controller(message)
        else:
            self.improviser.handle(message)
        self.reporter.observe(message.time)

    def input_lost(self, when: float) -> None:
        self.improviser.input_lost(when)

    def update(self, now: float) -> None:
        """Apply what was asked since the last turn, then let the improviser advance."""
        while not self._actions.empty():
            action = self._actions.get_nowait()
            try:
                action(now)
            except Refused as error:  # the state changed between reply and turn
                self.events.emit("warning", message=str(error))
        if self._next_model is not None and self.improviser.replace_continuation(
            self._next_model[1]
        ):
            self.model_name = self._next_model[0]
            self._next_model = None
            self.events.emit("model_changed", model=self.model_name)
        self.improviser.update(now)
        self.reporter.observe_turn(now)

    def _controller(self, message: mido.Message) -> None:
        request = self.ccmap.translate(message)
        if request is None:
            return
        if request.cmd == "load_model":
            self.request_model(request.params["name"])  # the swap is announced by an event
            return
        reply = self.answer(request, source="cc")  # applied by this turn's update
        if not reply["ok"]:
            self.events.emit("warning", message=reply["error"])

    def _retune(self, settings: Settings, name: str, value: Any, source: str, now: float) -> None:
        self.improviser.retune(settings, now)
        self.events.emit("param_changed", name=name, value=value, source=source)

    def _act(self, name: str, action: Callable[[float], None], source: str, now: float) -> None:
        action(now)
        self.events.emit("action", name=name, source=source)

    def _loaded(self, done: Future[tuple[str, Continuation]], now: float) -> None:
        if (error := done.exception()) is not None:
            self.events.emit("error", message=f"load_model: {error}")
            return
        self._next_model = done.result()

    def close(self) -> None:
        self.loader.close()
