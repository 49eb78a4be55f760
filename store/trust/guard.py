"""Authentication at the door of each gRPC call: identify, authorize, refuse, count.

Shared by the OTLP and Fleet services. A refusal aborts the call (UNAUTHENTICATED or
PERMISSION_DENIED) before anything of it is parsed or stored, is counted through
``count`` (``requests_unauthenticated`` / ``requests_denied`` in ingest_stats), and is
logged at most once per interval per reason, with the peer's address.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NoReturn

import grpc

from store.trust.identity import Authenticator, Identity, PermissionDenied, Unauthenticated


class CallGuard:
    def __init__(self, authenticator: Authenticator, count: Callable[[str], None]) -> None:
        self.authenticator = authenticator
        self._count = count

    async def identify(self, context: grpc.aio.ServicerContext) -> Identity | None:
        """The caller's proven identity (None when authentication is off)."""
        try:
            return self.authenticator.identify(
                dict(context.invocation_metadata()), context.auth_context()
            )
        except Unauthenticated as err:
            await self._refuse(context, grpc.StatusCode.UNAUTHENTICATED, err)
        except PermissionDenied as err:
            await self._refuse(context, grpc.StatusCode.PERMISSION_DENIED, err)

    async def require(
        self, context: grpc.aio.ServicerContext, identity: Identity | None, node_id: str
    ) -> None:
        """Abort with PERMISSION_DENIED unless ``identity`` may act as ``node_id``."""
        if identity is None:
            return
        try:
            identity.require(node_id)
        except PermissionDenied as err:
            await self._refuse(context, grpc.StatusCode.PERMISSION_DENIED, err)

    async def deny(self, context: grpc.aio.ServicerContext, reason: str) -> NoReturn:
        """Abort with PERMISSION_DENIED for ``reason``."""
        await self._refuse(context, grpc.StatusCode.PERMISSION_DENIED, PermissionDenied(reason))

    async def _refuse(
        self, context: grpc.aio.ServicerContext, code: grpc.StatusCode, err: Exception
    ) -> NoReturn:
        denied = code == grpc.StatusCode.PERMISSION_DENIED
        self._count("requests_denied" if denied else "requests_unauthenticated")
        self.authenticator.refusals.log(
            logging.WARNING,
            f"{code.name}:{err}",
            "refused a call from %s: %s: %s",
            context.peer(),
            code.name,
            err,
        )
        await context.abort(code, str(err))
        raise AssertionError("abort returns only by raising")
