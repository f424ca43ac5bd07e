"""Handler registration per event type, command keyword and binding, and dispatch to the best match."""
from __future__ import annotations

import asyncio
import functools
import inspect
from dataclasses import dataclass
from typing import Awaitable, Callable, FrozenSet, List, Optional, Sequence, Union, cast

from smtpbridge._gen.smtpbridge.v1 import verdict_pb2
from smtpbridge.context import EOD, EventContext
from smtpbridge.enums import EventType
from smtpbridge.verdict import Verdict

HandlerResult = Union[Verdict, verdict_pb2.Verdict, None]
Handler = Callable[[EventContext], Union[HandlerResult, Awaitable[HandlerResult]]]
Keywords = Union[str, Sequence[str], None]


@dataclass(frozen=True)
class Route:
    handler: Handler
    event: Optional[EventType]          # None: any event type
    keywords: Optional[FrozenSet[str]]  # None: any keyword
    binding: Optional[str]              # None: any binding

    def matches(self, event: EventType, keyword: str, binding: str) -> bool:
        return ((self.event is None or self.event == event)
                and (self.keywords is None or keyword.upper() in self.keywords)
                and (self.binding is None or self.binding == binding))

    def specificity(self) -> tuple:
        # An exact event beats any event, then a named binding, then a keyword.
        return (self.event is not None, self.binding is not None, self.keywords is not None)


def _keywords(keyword: Keywords) -> Optional[FrozenSet[str]]:
    if keyword is None:
        return None
    if isinstance(keyword, str):
        keyword = [keyword]
    words = frozenset(k.strip().upper() for k in keyword)
    if not words or "" in words:
        raise ValueError("keyword must be a non-empty command verb (e.g. 'RCPT', '_EOD')")
    return words


class Router:
    """Holds the handlers; `dispatch` picks the most specific one for an event.

    A handler takes an EventContext and returns a Verdict (or a raw proto, or None for "continue").
    It may be `async def` or a plain function; plain functions run in a worker thread when
    `sync_in_thread` is true (the default), so blocking calls don't stall the event loop.
    """

    def __init__(self, *, sync_in_thread: bool = True) -> None:
        self._routes: List[Route] = []
        self._sync_in_thread = sync_in_thread

    # --- registration ----------------------------------------------------------------------------
    def add(self, handler: Handler, event: Union[EventType, str, None] = None, *,
            keyword: Keywords = None, binding: Optional[str] = None) -> Handler:
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        if isinstance(event, str):
            event = EventType.parse(event)
        if event == EventType.UNSPECIFIED:
            raise ValueError("register for a concrete event type (or None for any)")
        route = Route(handler, event, _keywords(keyword), binding or None)
        for other in self._routes:
            if (other.event, other.keywords, other.binding) == (route.event, route.keywords, route.binding):
                raise ValueError(f"a handler is already registered for {_describe(route)}: {other.handler!r}")
        self._routes.append(route)
        return handler

    def on(self, event: Union[EventType, str, None], *, keyword: Keywords = None,
           binding: Optional[str] = None) -> Callable[[Handler], Handler]:
        """Decorator: `@worker.on(EventType.INBOUND_COMMAND, keyword="RCPT")`."""
        def register(handler: Handler) -> Handler:
            return self.add(handler, event, keyword=keyword, binding=binding)
        return register

    def on_command(self, keyword: Keywords = None, *, binding: Optional[str] = None):
        """INBOUND_COMMAND handlers, optionally for some keywords only."""
        return self.on(EventType.INBOUND_COMMAND, keyword=keyword, binding=binding)

    def on_eod(self, handler: Optional[Handler] = None, *, binding: Optional[str] = None):
        """End of data (`_EOD`), where the message and its edits live. Usable bare or with args."""
        decorator = self.on(EventType.INBOUND_COMMAND, keyword=EOD, binding=binding)
        return decorator(handler) if handler is not None else decorator

    def on_connect(self, handler: Optional[Handler] = None, *, binding: Optional[str] = None):
        decorator = self.on(EventType.CONNECT, binding=binding)
        return decorator(handler) if handler is not None else decorator

    def on_any(self, handler: Optional[Handler] = None, *, binding: Optional[str] = None):
        """Fallback for every event no more specific handler takes."""
        decorator = self.on(None, binding=binding)
        return decorator(handler) if handler is not None else decorator

    # --- dispatch --------------------------------------------------------------------------------
    def resolve(self, event: EventType, keyword: str, binding: str) -> Optional[Route]:
        best: Optional[Route] = None
        for route in self._routes:
            if route.matches(event, keyword, binding) and (
                    best is None or route.specificity() > best.specificity()):
                best = route
        return best

    async def dispatch(self, ctx: EventContext) -> verdict_pb2.Verdict:
        """Run the matching handler; no handler means continue. Handler exceptions propagate."""
        route = self.resolve(ctx.type, ctx.keyword, ctx.binding_name)
        if route is None:
            return verdict_pb2.Verdict(action=verdict_pb2.ACTION_CONTINUE)
        handler = route.handler
        result: Union[HandlerResult, Awaitable[HandlerResult]]
        # An object whose class defines `async def __call__` is awaited like a coroutine function.
        if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(type(handler).__call__):
            result = await cast(Awaitable[HandlerResult], handler(ctx))
        elif self._sync_in_thread:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(None, functools.partial(handler, ctx))
        else:
            result = handler(ctx)
        if inspect.isawaitable(result):
            result = await result
        return _to_proto(result, handler)


def _to_proto(result: HandlerResult, handler: Handler) -> verdict_pb2.Verdict:
    if result is None:
        return verdict_pb2.Verdict(action=verdict_pb2.ACTION_CONTINUE)
    if isinstance(result, Verdict):
        return result.to_proto()
    if isinstance(result, verdict_pb2.Verdict):
        return result
    raise TypeError(f"handler {getattr(handler, '__name__', handler)!r} returned "
                    f"{type(result).__name__}, expected Verdict or None")


def _describe(route: Route) -> str:
    parts = [route.event.name if route.event is not None else "any event"]
    if route.keywords:
        parts.append("keyword " + "/".join(sorted(route.keywords)))
    if route.binding:
        parts.append(f"binding {route.binding!r}")
    return ", ".join(parts)
