"""``grpc.health.v1`` on a grpc.aio server, following a ``parallax.health.Health``, and an
interceptor that counts every call by method and status code.

The health service answers for the whole server (service name "") and for each service
it names: SERVING while the process is ready, NOT_SERVING otherwise, and NOT_SERVING for
good once it drains (``Watch`` streams hear each change). Imported only by components
that install grpcio and grpcio-health-checking.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from parallax.aio import EventLoopThread
from parallax.health import Health

HEALTH_SERVICE = "grpc.health.v1.Health"
SET_TIMEOUT_S = 10.0


class GrpcHealth:
    """The health service of one grpc.aio server; add it before the server starts."""

    def __init__(self, loop: EventLoopThread, services: Iterable[str]) -> None:
        self._loop = loop
        self._services = ("", *services)
        self._servicer = HealthServicer()

    def add_to(self, server: grpc.aio.Server, health: Health) -> None:
        """Register the service on ``server`` and follow ``health`` from now on."""
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, server)
        health.listen(self._follow)

    def _follow(self, ready: bool) -> None:
        if self._loop.loop.is_closed():
            return
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        self._run(self._set_all(status))

    def drain(self) -> None:
        """NOT_SERVING for good, before the server stops taking calls."""
        self._run(self._servicer.enter_graceful_shutdown())

    async def _set_all(self, status: int) -> None:
        for service in self._services:
            await self._servicer.set(service, status)

    def _run(self, coroutine) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop.loop)
        future.result(SET_TIMEOUT_S)


CountCall = Callable[[str, str], None]
"""count(method, code): one call to ``method`` ("/package.Service/Method") ended with
``code`` (a grpc.StatusCode name such as "OK" or "UNAVAILABLE")."""


class CallCounter(grpc.aio.ServerInterceptor):
    """Counts every call to a registered method once, by its final status code.

    A method the server does not serve is not counted (its name comes from the client,
    and counting it would let a client grow the metric without bound); gRPC answers it
    UNIMPLEMENTED itself.
    """

    def __init__(self, count: CountCall) -> None:
        self._count = count

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        wrapped = {
            kind: self._wrap(behaviour, method)
            for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
            if (behaviour := getattr(handler, kind)) is not None
        }
        return handler._replace(**wrapped)

    def _wrap(self, behaviour, method: str):
        count = self._count
        if inspect.isasyncgenfunction(behaviour):

            async def streamed(request, context):
                code = "UNKNOWN"
                try:
                    async for response in behaviour(request, context):
                        yield response
                    code = _code_of(context)
                except asyncio.CancelledError:
                    code = "CANCELLED"
                    raise
                except BaseException:
                    code = _code_of(context, "UNKNOWN")
                    raise
                finally:
                    count(method, code)

            return streamed

        async def answered(request, context):
            code = "UNKNOWN"
            try:
                result = await behaviour(request, context)
                code = _code_of(context)
                return result
            except asyncio.CancelledError:
                code = "CANCELLED"
                raise
            except BaseException:
                code = _code_of(context, "UNKNOWN")
                raise
            finally:
                count(method, code)

        return answered


def _code_of(context: grpc.aio.ServicerContext, unset: str = "OK") -> str:
    """The status the behaviour set or aborted with; ``unset`` when it set none."""
    code = context.code()
    if code is None:
        return unset
    return code.name if isinstance(code, grpc.StatusCode) else str(code)
