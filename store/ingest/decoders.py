"""Where commit groups are converted: in the server process, or in decoder processes.

Converting OTLP to Arrow is Python work that holds the interpreter lock, and it is the
largest share of the server's CPU per span; in one process it shares that lock with
gRPC request handling and the writer, so the server cannot use more than about one
core. With ``server.decoders = N`` the server starts N decoder processes (spawned, so
they inherit no gRPC or DuckDB threads) and sends each group's raw request bytes to
one of them; the Arrow result comes back pickled (~470 bytes per span, well under a
microsecond per span to pickle and unpickle). The decoders only convert: admission,
the batch ledger and every lake write stay in the server process, so the single-writer
rule and effectively-once delivery do not depend on how many decoders there are, and
the memory held by all processes stays bounded by ``server.queue_max_spans`` (a
decoder holds only groups the server has admitted and not yet committed).

Lifetimes: a decoder exits when its pipe closes, so when the server stops, and also
when the server is killed (kill -9): it never outlives the server. It ignores SIGINT and
SIGTERM, which a terminal or a service manager may send to the whole process group,
so that the server can drain: it closes the decoders after its last commit. A decoder
that dies fails the group it held (the requests get UNAVAILABLE, which clients retry;
nothing of them was acknowledged) and is replaced.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import queue
import signal
import threading
from concurrent.futures import Future
from typing import Any, Protocol

from store.ingest import convert
from store.ingest.convert import Incoming, InvalidRequest
from store.ingest.decode import Decoded, decode_group

log = logging.getLogger("parallax.ingest")

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
_STOP = object()


class DecoderFailed(RuntimeError):
    """A decoder process died or failed while converting a group (retryable)."""


class Decoder(Protocol):
    """Converts groups; ``submit`` never blocks for the conversion itself."""

    def start(self) -> None: ...

    def submit(self, incoming: list[Incoming], span_counts: list[int]) -> Future: ...

    def close(self) -> None: ...

    @property
    def pids(self) -> list[int]: ...


class InlineDecoder:
    """Converts on the calling thread (``server.decoders = 0``: one process)."""

    def start(self) -> None:
        pass

    def submit(self, incoming: list[Incoming], span_counts: list[int]) -> Future:
        future: Future = Future()
        future.set_result(decode_group(incoming, span_counts))
        return future

    def close(self) -> None:
        pass

    @property
    def pids(self) -> list[int]:
        return []


def make_decoder(processes: int) -> Decoder:
    """The decoder for ``server.decoders``: 0 converts in this process."""
    return InlineDecoder() if processes == 0 else DecoderPool(processes)


class DecoderPool:
    """N decoder processes fed from one queue; one thread per process talks to it."""

    def __init__(self, processes: int) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._jobs: queue.Queue = queue.Queue()
        self._count = processes
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._processes: list[Any] = []

    def start(self) -> None:
        """Start the processes and wait until each has imported the converter."""
        launched = [self._launch() for _ in range(self._count)]
        links = [self._await_ready(*link) for link in launched]
        for index, link in enumerate(links):
            thread = threading.Thread(
                target=self._serve, args=(link,), name=f"ingest-decoder-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def submit(self, incoming: list[Incoming], span_counts: list[int]) -> Future:
        future: Future = Future()
        self._jobs.put((incoming, span_counts, future))
        return future

    def close(self) -> None:
        """Finish the queued groups, then stop every process."""
        for _ in self._threads:
            self._jobs.put(_STOP)
        for thread in self._threads:
            thread.join(STOP_TIMEOUT_S * 3)
        with self._lock:
            processes, self._processes = self._processes, []
        for process in processes:
            process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join(STOP_TIMEOUT_S)

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [process.pid for process in self._processes]

    def _launch(self) -> tuple[Any, Any]:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=decoder_main, args=(theirs,), name="parallax-decoder", daemon=True
        )
        process.start()
        theirs.close()  # ours is now the only other end: the decoder sees EOF when it closes
        with self._lock:
            self._processes.append(process)
        return process, ours

    def _await_ready(self, process: Any, conn: Any) -> tuple[Any, Any]:
        try:
            ready = conn.poll(START_TIMEOUT_S) and conn.recv_bytes() == b"ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            process.kill()
            self._forget(process, conn)
            raise DecoderFailed(f"decoder process {process.pid} did not start")
        return process, conn

    def _serve(self, link: tuple[Any, Any]) -> None:
        process, conn = link
        while True:
            job = self._jobs.get()
            if job is _STOP:
                if conn is not None:
                    conn.close()
                return
            incoming, span_counts, future = job
            if conn is None:  # the last one died: start its replacement
                try:
                    process, conn = self._await_ready(*self._launch())
                except DecoderFailed as err:
                    future.set_exception(err)
                    continue
            try:
                future.set_result(self._run(conn, incoming, span_counts))
            except (EOFError, OSError) as err:
                future.set_exception(DecoderFailed(f"decoder process {process.pid} died: {err}"))
                self._forget(process, conn)
                process = conn = None
            except Exception as err:
                future.set_exception(err)

    @staticmethod
    def _run(conn: Any, incoming: list[Incoming], span_counts: list[int]) -> Decoded:
        job = [
            (item.data, item.node_id, item.batch_seq, item.buffer_id, count)
            for item, count in zip(incoming, span_counts, strict=True)
        ]
        conn.send_bytes(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
        ok, result = pickle.loads(conn.recv_bytes())
        if not ok:
            raise DecoderFailed(f"decoder failed: {result}")
        return result

    def _forget(self, process: Any, conn: Any) -> None:
        conn.close()
        process.join(STOP_TIMEOUT_S)
        log.error("decoder process %s stopped (exit %s)", process.pid, process.exitcode)
        with self._lock:
            if process in self._processes:
                self._processes.remove(process)


def decoder_main(conn: Any) -> None:
    """A decoder process: convert each group it is sent until its pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn.send_bytes(b"ready")
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[bool, Any] = (True, _decode(pickle.loads(message)))
        except Exception as err:  # reported to the server, which fails only this group
            reply = (False, repr(err))
        try:
            conn.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
        except (EOFError, OSError):
            return


def _decode(job: list[tuple[bytes, str | None, int | None, str | None, int]]) -> Decoded:
    incoming: list[Incoming] = []
    unparsed: dict[int, str] = {}
    for index, (data, node_id, batch_seq, buffer_id, _) in enumerate(job):
        try:
            request = convert.parse(data)
        except InvalidRequest as err:  # the server parsed it already; never trust, though
            unparsed[index] = str(err)
            continue
        incoming.append(Incoming(request, node_id, batch_seq, buffer_id))
    if not incoming:
        return Decoded(None, unparsed)
    if not unparsed:
        return decode_group(incoming, [item[4] for item in job])
    # Indexes of the decoded group refer to the parsed requests: map them back.
    parsed = [i for i in range(len(job)) if i not in unparsed]
    decoded = decode_group(incoming, [job[i][4] for i in parsed])
    invalid = {parsed[i]: reason for i, reason in decoded.invalid.items()}
    invalid.update(unparsed)
    return Decoded(decoded.converted, invalid)
