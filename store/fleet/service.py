"""The Fleet/Heartbeat gRPC service (grpc.aio): record the heartbeat, answer with the directive.

A heartbeat is answered only after it is committed to the lake, so a node that got a
directive knows it was seen. Heartbeats are group-committed: one writer job per group
and at most one under way; heartbeats that arrive meanwhile wait for the next job,
which starts ``server.flush_interval_ms`` after the previous one ended. The lake's
writer thread is shared with span ingest and one heartbeat commit (two INSERTs and a
DELETE) takes ~60-100 ms, about the same for one heartbeat as for hundreds. The wait
does not disturb the clock estimate: it lies between the server's receive and send
times, which the NTP formula takes out.

Status codes: UNAUTHENTICATED / PERMISSION_DENIED when the caller proves no identity
or heartbeats as another node (store.trust); INVALID_ARGUMENT for a request that breaks
the contract (see ``heartbeats.validate``); UNAVAILABLE when the server is stopping or
the lake refused the commit; DEADLINE_EXCEEDED when the commit did not finish within
the call's deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

import grpc

from parallax.proto.fleet.v1 import fleet_pb2, fleet_pb2_grpc
from store.fleet.heartbeats import Heartbeat, InvalidHeartbeat, record_heartbeats, validate
from store.fleet.policy import FleetPolicy
from store.fleet.policy_file import PolicyFile
from store.ingest.pipeline import IngestPipeline, ShuttingDown
from store.trust.guard import CallGuard

log = logging.getLogger("parallax.fleet")

SERVICE_NAME = fleet_pb2.DESCRIPTOR.services_by_name["Fleet"].full_name
DEFAULT_WAIT_S = 30.0


class FleetService(fleet_pb2_grpc.FleetServicer):
    """Handles Fleet/Heartbeat; holds the fleet policy the directives come from."""

    def __init__(
        self,
        pipeline: IngestPipeline,
        guard: CallGuard,
        policy: FleetPolicy | None = None,
        policy_file: PolicyFile | None = None,
    ) -> None:
        self._guard = guard
        self._policy = policy or (policy_file.current() if policy_file else FleetPolicy())
        self._policy_file = policy_file
        self._recorder = _GroupRecorder(pipeline)
        self.heartbeats_recorded = 0  # since start (on the event loop only)

    @property
    def policy(self) -> FleetPolicy:
        if self._policy_file is not None:
            self._policy = self._policy_file.current()
        return self._policy

    def set_policy(self, policy: FleetPolicy) -> None:
        """Replace the policy; heartbeats answered from now on carry the new directive."""
        if not isinstance(policy, FleetPolicy):
            raise TypeError(f"expected a FleetPolicy, got {type(policy).__name__}")
        self._policy = policy  # one reference swap: the event loop sees old or new, whole
        self._policy_file = None  # set explicitly: the file no longer governs
        log.info("fleet policy is now %s", policy)

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Heartbeat": grpc.unary_unary_rpc_method_handler(
                    self.Heartbeat,
                    request_deserializer=fleet_pb2.HeartbeatRequest.FromString,
                    response_serializer=fleet_pb2.HeartbeatResponse.SerializeToString,
                )
            },
        )

    async def Heartbeat(  # named as in the generated FleetServicer
        self, request: fleet_pb2.HeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.HeartbeatResponse:
        received_ns = time.time_ns()
        identity = await self._guard.identify(context)
        try:
            validate(request)
        except InvalidHeartbeat as err:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        await self._guard.require(context, identity, request.node_id)
        remaining = context.time_remaining()
        try:
            await asyncio.wait_for(
                self._recorder.record(Heartbeat(request, received_ns)),
                remaining if remaining is not None else DEFAULT_WAIT_S,
            )
        except ShuttingDown as err:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(err))
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "heartbeat not recorded in time")
        except Exception as err:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, f"could not record the heartbeat: {err}"
            )
        self.heartbeats_recorded += 1
        response = self.policy.directive()
        response.server_receive_time_unix_nano = received_ns
        response.server_send_time_unix_nano = time.time_ns()
        return response


class _GroupRecorder:
    """Commits heartbeats through the pipeline's writer, one group per commit.

    Lives on the server's event loop (not thread-safe, needs no lock): at most one writer
    job is under way; heartbeats arriving meanwhile go together in the next, which starts
    ``flush_interval_ms`` after the previous one ended (at once when the recorder is idle).
    """

    def __init__(self, pipeline: IngestPipeline) -> None:
        self._pipeline = pipeline
        self._linger_s = pipeline.settings.flush_interval_ms / 1000
        self._waiting: list[tuple[Heartbeat, asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        self._failing = False

    def record(self, heartbeat: Heartbeat) -> asyncio.Future:
        """A future resolved when the heartbeat is committed, or failed with the reason.

        Cancelling it (the caller gave up) does not take the heartbeat out of its group.
        """
        loop = asyncio.get_running_loop()
        committed = loop.create_future()
        self._waiting.append((heartbeat, committed))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._commit_waiting())
        return committed

    async def _commit_waiting(self) -> None:
        while True:
            group, self._waiting = self._waiting, []
            error: Exception | None = None
            try:
                job = partial(record_heartbeats, heartbeats=[h for h, _ in group])
                await asyncio.wrap_future(self._writer().run_in_writer(job))
            except Exception as err:
                error = err
            self._log_outcome(len(group), error)
            for _, committed in group:
                if committed.done():  # cancelled: its caller stopped waiting
                    continue
                if error is None:
                    committed.set_result(None)
                else:
                    committed.set_exception(error)
            if not self._waiting:
                return
            await asyncio.sleep(self._linger_s)  # let the next group gather

    def _writer(self) -> IngestPipeline:
        pipeline = self._pipeline
        if pipeline is None:
            raise ShuttingDown("the server has stopped")
        return pipeline

    def _log_outcome(self, count: int, error: Exception | None) -> None:
        """Log when recording starts failing and when it recovers, not every failure."""
        if error is not None and not self._failing and not isinstance(error, ShuttingDown):
            log.warning("heartbeats are not being recorded (%d refused): %s", count, error)
            self._failing = True
        elif error is None and self._failing:
            log.info("heartbeats are being recorded again")
            self._failing = False
