"""The panel's web server (aiohttp): the page, its assets and one WebSocket per open page.

The server is a client of the daemon's control plane (liveimpro.control.daemonlink): it passes the
daemon's events and its polled status on to every page, and each page's requests to the
daemon, checked by the protocol's own rules first. Pages can come and go, and so can the
daemon; the page says "disconnected" until it is back. Every asset is served from
``static/`` in this package: the page never asks another host for anything (its Content
Security Policy says so too).

On a loopback address anyone on this machine may open the panel, as with ``liveimpro ctl``;
WebSockets from pages of other sites are refused (their Origin differs), and so is any request
naming another host (a site whose name was pointed at 127.0.0.1). Any other address
needs the token printed at start on every request: as ``?token=`` or the cookie the first
page load with it sets.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import signal
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from liveimpro.config.settings import ControlSettings
from liveimpro.control.daemonlink import DaemonLink
from liveimpro.control.protocol import ProtocolError, check_request, error_reply, parameter_specs
from liveimpro.control.server import is_loopback
from liveimpro.music.tonality import MODES, NOTE_NAMES, SCALE_FROM_PHRASE, SCALE_OFF

STATIC = Path(__file__).resolve().parent / "static"
TOKEN_COOKIE = "liveimpro_panel_token"
PAGE_QUEUE = 2000  # messages waiting for a slow page; beyond that it misses some
CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'"


class Page:
    """One open page: its WebSocket and the messages queued for it, sent in order."""

    def __init__(self, socket: web.WebSocketResponse) -> None:
        self.socket = socket
        self.queue: asyncio.Queue[str] = asyncio.Queue(PAGE_QUEUE)
        self.dropped = 0

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(json.dumps(message, separators=(",", ":")))
        except asyncio.QueueFull:
            self.dropped += 1  # a stalled page must not hold the others up

    async def pump(self) -> None:
        while True:
            await self.socket.send_str(await self.queue.get())


class Panel:
    """The web app for the daemon ``settings`` (its [control] section) describe."""

    def __init__(self, settings: ControlSettings, token: str | None = None) -> None:
        self.settings = settings
        self.token = token
        self.pages: set[Page] = set()
        self.status: dict[str, Any] | None = None  # the latest poll's; None: no daemon
        self.link: DaemonLink | None = None
        self.app = web.Application(middlewares=[self._guard])
        self.app.router.add_get("/", self._index)
        self.app.router.add_get("/ws", self._websocket)
        self.app.router.add_static("/static/", STATIC)
        self.app.on_startup.append(self._start_link)
        self.app.on_shutdown.append(self._close_pages)
        self.app.on_cleanup.append(self._close_link)
        self.app.on_response_prepare.append(self._headers)

    # The daemon, seen from its link's threads --------------------------------------------

    async def _start_link(self, _app: web.Application) -> None:
        loop = asyncio.get_running_loop()

        def on_status(status: dict[str, Any] | None) -> None:
            loop.call_soon_threadsafe(self._status, status)

        def on_event(event: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(self._broadcast, {"type": "event", "event": event})

        self.link = await asyncio.to_thread(DaemonLink, self.settings, on_status, on_event)

    async def _close_link(self, _app: web.Application) -> None:
        if self.link is not None:
            await asyncio.to_thread(self.link.close)

    def _status(self, status: dict[str, Any] | None) -> None:
        self.status = status
        self._broadcast({"type": "status", "status": status})

    def _broadcast(self, message: dict[str, Any]) -> None:
        for page in self.pages:
            page.send(message)

    # HTTP ---------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.token is None:
            # a page of another site whose name was made to point here (DNS rebinding)
            if not is_loopback_host(urlsplit(f"//{request.host}").hostname or ""):
                raise web.HTTPForbidden(text="liveimpro panel: open it as localhost or 127.0.0.1")
        else:
            given = request.query.get("token") or request.cookies.get(TOKEN_COOKIE, "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                raise web.HTTPForbidden(
                    text="liveimpro panel: add ?token=... (printed by liveimpro panel at start)"
                )
        return await handler(request)

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Cache-Control"] = "no-store"

    async def _index(self, request: web.Request) -> web.FileResponse:
        response = web.FileResponse(STATIC / "index.html")
        if self.token is not None:  # so the assets and the WebSocket carry it too
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="Strict")
        return response

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            raise web.HTTPForbidden(text="liveimpro panel: WebSocket from another site")
        socket = web.WebSocketResponse(heartbeat=10.0)
        await socket.prepare(request)
        page = Page(socket)
        page.send(self._hello())
        page.send({"type": "status", "status": self.status})
        self.pages.add(page)
        pump = asyncio.create_task(page.pump())
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    page.send(await self._answer(message.data))
        finally:
            self.pages.discard(page)
            pump.cancel()
        return socket

    async def _close_pages(self, _app: web.Application) -> None:
        for page in list(self.pages):
            await page.socket.close()

    def _hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "parameters": parameter_specs(),
            "scales": [SCALE_OFF, SCALE_FROM_PHRASE]
            + [f"{tonic} {mode}" for mode in MODES for tonic in NOTE_NAMES],
            # the daemon stamps events with time.monotonic(); the page draws on wall time
            "wall_minus_monotonic": time.time() - time.monotonic(),
        }

    async def _answer(self, text: str) -> dict[str, Any]:
        """The reply to a page's ``{"id": N, "request": {...}}``, tagged with its id."""
        try:
            message = json.loads(text)
            ident = message.get("id") if isinstance(message, dict) else None
            request = check_request(message.get("request") if ident is not None else None)
        except (ValueError, ProtocolError) as error:
            return {"type": "reply", "id": None, **error_reply(str(error))}
        reply = await asyncio.to_thread(self.link.request, request)
        return {"type": "reply", "id": ident, **reply}


def panel_url(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 bare or in brackets) is this machine."""
    host = host.strip("[]")
    return is_loopback(f"tcp://[{host}]:0" if ":" in host else f"tcp://{host}:0")


async def serve_panel(settings: ControlSettings, host: str, port: int) -> None:
    """Serve the panel until SIGINT or SIGTERM; prints its address (with a token off loopback)."""
    token = None if is_loopback_host(host) else secrets.token_urlsafe(18)
    panel = Panel(settings, token)
    runner = web.AppRunner(panel.app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        print(f"liveimpro panel: {panel_url(host, bound, token)}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
