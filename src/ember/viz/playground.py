"""``ember lab playground``: the ConvNetJS "classify2d" demo, with Ember: an MLP trained live on points in the
plane, its decision boundary redrawn a few times a second in the browser.

A Starlette app served by uvicorn on 127.0.0.1 only (a free port unless one is given). A background thread
trains ``ember.viz.classify2d.Classifier2D`` a few steps at a time and keeps the latest state as JSON;
the page (``static/playground.html`` and ``playground.js``, served from the package: no CDN) receives it
as server-sent events (``GET /events``) and sends changes as JSON (``POST /settings``, ``/point``,
``/dataset``, ``/reset``). A bad request gets HTTP 400 with ``{"error": message}``, shown on the page; the
server keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict
from importlib import resources
from typing import Any

from ember.errors import EmberError
from ember.viz import toy
from ember.viz.classify2d import Classifier2D, Settings, SettingsError

HOST = "127.0.0.1"
RESOLUTION = 40
ACTIONS = ("settings", "point", "dataset", "reset")
STATIC = {"/": ("playground.html", "text/html"), "/playground.js": ("playground.js", "text/javascript")}


class Playground:
    """The classifier, trained in a background thread; every method may be called from any thread."""

    def __init__(self, dataset: str = "spiral", settings: Settings | None = None, steps_per_round: int = 5):
        self.classifier = Classifier2D(dataset, settings)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.steps_per_round = steps_per_round
        self.message = ""
        self.state = self._snapshot()
        self.thread = threading.Thread(target=self._loop, name="ember-playground", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()

    def _loop(self) -> None:
        while not self.stopping.is_set():
            with self.lock:
                self.classifier.train(self.steps_per_round)
                if self.classifier.diverged:
                    lr = self.classifier.settings.lr
                    self.message = (
                        f"the loss diverged at learning rate {lr:g}: the network was re-initialized"
                    )
                    self.classifier.diverged = False
                self.state = self._snapshot()
            self.stopping.wait(0.005)  # let requests take the lock

    def _snapshot(self) -> str:
        c = self.classifier
        field = c.field(RESOLUTION)
        finite = lambda value: None if value != value else round(value, 5)  # noqa: E731 - NaN is not JSON
        return json.dumps(
            {
                "dataset": c.dataset,
                "settings": asdict(c.settings),
                "network": c.networks,
                "steps": c.steps,
                "loss": finite(c.loss),
                "accuracy": finite(c.accuracy),
                "roughness": round(toy.roughness(field), 6),
                "points": [
                    [round(float(x), 4), round(float(y), 4), int(k)]
                    for (x, y), k in zip(c.points, c.labels, strict=True)
                ],
                "resolution": RESOLUTION,
                "field": [round(float(p), 3) for p in field.ravel()],
                "message": self.message,
            }
        )

    def apply(self, action: str, request: Any) -> None:
        """Carry out a change from the page; ``SettingsError`` for anything it cannot do."""
        if action not in ACTIONS:
            raise SettingsError(f"unknown request /{action}; the page sends /{', /'.join(ACTIONS)}")
        if not isinstance(request, dict):
            raise SettingsError(
                f"malformed request: /{action} takes a JSON object, not {type(request).__name__}"
            )
        with self.lock:
            if action == "settings":
                self.classifier.configure(request)
            elif action == "point":
                try:
                    x, y, label = float(request["x"]), float(request["y"]), int(request["label"])
                except KeyError as error:
                    raise SettingsError(
                        f"malformed request: /point takes x, y and label; {error} is missing"
                    ) from None
                except (TypeError, ValueError):
                    raise SettingsError("malformed request: /point takes numbers x, y and label") from None
                self.classifier.add_point(x, y, label)
            elif action == "dataset":
                name = request.get("name")
                if name not in toy.DATASETS:
                    raise SettingsError(f"unknown data set {name!r}; choose one of {', '.join(toy.DATASETS)}")
                self.classifier.load(name)
            elif action == "reset":
                self.classifier.reset()
            self.message = ""
            self.state = self._snapshot()


def create_app(playground: Playground) -> Any:
    """The Starlette application serving the page, its script, the state stream and the changes."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    async def static(request: Request) -> Response:
        name, kind = STATIC[request.url.path]
        text = resources.files("ember.viz").joinpath("static", name).read_text(encoding="utf-8")
        return Response(text, media_type=kind, headers={"Cache-Control": "no-store"})

    async def state(request: Request) -> Response:
        return Response(playground.state, media_type="application/json")

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            sent = ""
            while not playground.stopping.is_set() and not await request.is_disconnected():
                if playground.state != sent:
                    sent = playground.state
                    yield f"data: {sent}\n\n"
                await asyncio.sleep(0.15)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    async def change(request: Request) -> Response:
        action = request.path_params["action"]
        try:
            try:
                body = json.loads(await request.body())
            except (ValueError, UnicodeDecodeError) as error:
                raise SettingsError(f"malformed request: the body is not JSON ({error})") from None
            await asyncio.to_thread(playground.apply, action, body)
        except SettingsError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})

    routes = [Route(path, static) for path in STATIC]
    routes += [
        Route("/state", state),
        Route("/events", events),
        Route("/{action:str}", change, methods=["POST"]),
    ]
    return Starlette(routes=routes)


class PortError(EmberError, OSError):
    """The port asked for cannot be listened on."""


def free_socket(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 (``port`` 0: a free one the system picks)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as error:
        sock.close()
        raise PortError(
            f"cannot listen on {HOST}:{port} ({error.strerror}); pick another --port, or leave it out for a "
            "free one"
        ) from None
    sock.listen(64)
    return sock


def make_server(playground: Playground) -> Any:
    import uvicorn

    config = uvicorn.Config(
        create_app(playground), log_level="warning", timeout_graceful_shutdown=2, lifespan="off"
    )
    return uvicorn.Server(config)


def serve(playground: Playground, port: int = 0, on_ready: Any = None) -> None:
    """Serve until interrupted (Ctrl-C); ``on_ready(url)`` is called once the socket listens."""
    sock = free_socket(port)
    url = f"http://{HOST}:{sock.getsockname()[1]}/"
    playground.start()
    try:
        if on_ready is not None:
            on_ready(url)
        make_server(playground).run(sockets=[sock])
    finally:
        playground.stop()
        sock.close()


@contextlib.contextmanager
def running(playground: Playground) -> Iterator[str]:
    """Serve in a background thread while open (for tests and notebooks); yields the page's URL."""
    sock = free_socket()
    server = make_server(playground)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    playground.start()
    thread.start()
    try:
        yield f"http://{HOST}:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        playground.stop()
        thread.join(timeout=30)
        sock.close()
