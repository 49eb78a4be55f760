"""A no-op OTLP/gRPC trace receiver: the ceiling a load generator can reach on this machine.

    .venv/bin/python bench/noop_receiver.py [--listen 127.0.0.1:0]

A ``grpc.aio`` server that answers every ``TraceService/Export`` with an empty response
without parsing the request (gRPC still inflates gzip requests, as it does for the real
server). It prints ``noop receiver listening on HOST:PORT`` once it accepts calls and
stops on SIGTERM or SIGINT. ``bench/ingest.py --sweep`` runs it as a subprocess next to
``parallax server`` so that both see the same load in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import grpc

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
EMPTY_RESPONSE = b""  # an ExportTraceServiceResponse with no field set


async def export(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return EMPTY_RESPONSE


def export_handler() -> grpc.GenericRpcHandler:
    """Export with no (de)serializers: the request stays bytes and is never looked at."""
    return grpc.method_handlers_generic_handler(
        SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(export)}
    )


async def serve(listen: str) -> None:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
    )
    server.add_generic_rpc_handlers((export_handler(),))
    host = listen.rsplit(":", 1)[0]
    port = server.add_insecure_port(listen)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await server.start()
    print(f"noop receiver listening on {host}:{port}", flush=True)
    await stopping.wait()
    await server.stop(grace=1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: any free)")
    asyncio.run(serve(parser.parse_args().listen))


if __name__ == "__main__":
    main()
