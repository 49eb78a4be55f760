"""Authentication at the door of each call: identify, authorize, refuse, count.

Shared by the OTLP service (gRPC and HTTP) and the Fleet service. A refusal
(``CallRefused``: UNAUTHENTICATED or PERMISSION_DENIED) comes before anything of the
call is parsed or stored, is counted through ``count`` (``requests_unauthenticated`` /
``requests_denied`` in ingest_stats), and is logged at most once per interval per
reason, with the peer's address. ``check_*`` work on a ``parallax.calls.Caller``
whatever the transport; ``identify``, ``require`` and ``deny`` are their gRPC forms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NoReturn

import grpc

from parallax.calls import Caller, CallRefused, Refusal
from parallax.otlp_grpc import abort_refused, caller_of
from store.trust.identity import Authenticator, Identity, PermissionDenied, Unauthenticated


class CallGuard:
    def __init__(self, authenticator: Authenticator, count: Callable[[str], None]) -> None:
        self.authenticator = authenticator
        self._count = count

    def check_identity(self, caller: Caller) -> Identity | None:
        """The caller's proven identity (None when authentication is off)."""
        try:
            return self.authenticator.identify(caller.headers, caller.certificate_name)
        except Unauthenticated as err:
            self._refuse(caller, Refusal.UNAUTHENTICATED, err)
        except PermissionDenied as err:
            self._refuse(caller, Refusal.PERMISSION_DENIED, err)

    def check_may_act_as(self, caller: Caller, identity: Identity | None, node_id: str) -> None:
        """Refuse (PERMISSION_DENIED) unless ``identity`` may act as ``node_id``."""
        if identity is None:
            return
        try:
            identity.require(node_id)
        except PermissionDenied as err:
            self._refuse(caller, Refusal.PERMISSION_DENIED, err)

    def refuse_denied(self, caller: Caller, reason: str) -> NoReturn:
        """Refuse (PERMISSION_DENIED) for ``reason``."""
        self._refuse(caller, Refusal.PERMISSION_DENIED, PermissionDenied(reason))

    async def identify(self, context: grpc.aio.ServicerContext) -> Identity | None:
        try:
            return self.check_identity(caller_of(context))
        except CallRefused as refused:
            await abort_refused(context, refused)

    async def require(
        self, context: grpc.aio.ServicerContext, identity: Identity | None, node_id: str
    ) -> None:
        try:
            self.check_may_act_as(caller_of(context), identity, node_id)
        except CallRefused as refused:
            await abort_refused(context, refused)

    def _refuse(self, caller: Caller, refusal: Refusal, err: Exception) -> NoReturn:
        denied = refusal is Refusal.PERMISSION_DENIED
        self._count("requests_denied" if denied else "requests_unauthenticated")
        name = refusal.name
        self.authenticator.refusals.log(
            logging.WARNING,
            f"{name}:{err}",
            "refused a call from %s: %s: %s",
            caller.peer,
            name,
            err,
        )
        raise CallRefused(refusal, str(err))
