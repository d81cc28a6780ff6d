"""The plugin's own event loop, in a helper thread: where model coroutines are awaited.

One :class:`IOLoop` per process (:func:`io_loop`) runs an asyncio event loop in a daemon
thread, started at its first use and stopped by :func:`shutdown_io_loop` at the end of a
session. It serves three purposes:

* a ``python:`` model that is ``async def`` is awaited there when a test calls the sync
  ``model.complete()`` (whether or not the test's own loop is running in the test's thread);
* ``await model.acomplete()`` awaits the provider's coroutine (its HTTP exchange) there, so
  the test's loop is never blocked and each provider keeps one ``httpx.AsyncClient`` (one
  connection pool) for the whole session: :meth:`IOLoop.client_for`;
* since every such coroutine runs on this one long-lived loop, an async pipeline may keep
  loop-bound resources (an ``AsyncOpenAI`` client, an ``httpx.AsyncClient``) in module
  globals across tests, as it would in production.

Awaiting from another loop goes through :func:`asyncio.wrap_future`: cancelling the waiting
task cancels the coroutine on this loop. Does not import pytest.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class IOLoop:
    """An asyncio event loop running in a daemon thread (started on first use)."""

    def __init__(self, name: str = "modelbench-io") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._clients: dict[int, tuple[Any, Any]] = {}  # id(provider) -> (provider, AsyncClient)

    @property
    def running(self) -> bool:
        return self._loop is not None

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name=self._name, daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on the loop; its result arrives in the returned future."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._started())

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Run ``callback(*args)`` on the loop soon; callable from any thread."""
        self._started().call_soon_threadsafe(callback, *args)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and block this thread until it is done.

        Works from any thread but the loop's own (where it would wait for itself forever: a
        RuntimeError says so instead), in particular from a thread whose own event loop is
        running (a sync call inside an async test).
        """
        if self.in_loop_thread():
            coroutine.close()
            raise RuntimeError(
                "a sync model call was made from inside a coroutine the plugin is awaiting; "
                "use 'await model.acomplete(...)' there instead of model.complete(...)"
            )
        return self.submit(coroutine).result()

    async def wait(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await ``coroutine`` on the loop from a coroutine of another asyncio loop."""
        if self.in_loop_thread():
            return await coroutine
        return await asyncio.wrap_future(self.submit(coroutine))

    def client_for(self, provider: Any) -> Any:
        """The provider's ``httpx.AsyncClient`` for use on this loop (``provider.async_client()``,
        made once per provider; closed by :meth:`close`). Call it from the loop's thread."""
        key = id(provider)
        entry = self._clients.get(key)
        if entry is None or entry[0] is not provider:
            entry = self._clients[key] = (provider, provider.async_client())
        return entry[1]

    def close(self) -> None:
        """Close the providers' async clients, cancel what is still pending, stop the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            clients, self._clients = self._clients, {}
        if loop is None or thread is None:
            return

        async def wind_down() -> None:
            for _, client in clients.values():
                try:
                    await client.aclose()
                except Exception:  # a broken connection cannot stop the session from ending
                    pass
            pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        if thread is threading.current_thread():  # pragma: no cover - closed from its own loop
            loop.call_soon(loop.stop)
            return
        try:
            asyncio.run_coroutine_threadsafe(wind_down(), loop).result(timeout=30)
        except Exception:
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        if not thread.is_alive():
            loop.close()


_shared = IOLoop()


def io_loop() -> IOLoop:
    """The process's I/O loop (started when first used)."""
    return _shared


def shutdown_io_loop() -> None:
    """Stop the process's I/O loop (a later use starts it again)."""
    _shared.close()
