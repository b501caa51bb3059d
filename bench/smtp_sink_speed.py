"""How many messages per second the SMTP sink accepts: ``python -m bench.smtp_sink_speed [--messages 5000]``.

Sends a ~3 KB message with smtplib's ``sendmail``, one recipient each, first
over one connection, then over two connections from two processes at once,
and checks the sink counted every recipient exactly once.

For comparison it also times the same client against a server that does
nothing but send canned replies from a blocking socket: the most any server
could give that client on this machine right now. Each ``sendmail`` waits for
four replies, so over one connection the figure is mostly how fast this
machine wakes a sleeping process (on our 2-core VMs that varies several-fold
from minute to minute, and is slowest when the machine is otherwise idle),
which is why the sink's own CPU time per message is shown too.
"""

import argparse
import itertools
import multiprocessing
import smtplib
import socket
import time
from email.message import EmailMessage
from email.policy import SMTP
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from typing import NamedTuple

from bench.smtp_sink import HOST, SmtpSink

SENDER = "bench@example.com"


def message_parts(size: int = 3000) -> tuple[bytes, bytes]:
    """A message of about ``size`` bytes, split where each copy's unique Message-ID number goes."""
    message = EmailMessage(policy=SMTP)
    message["From"] = SENDER
    message["To"] = "user@example.com"
    message["Subject"] = "New releases from artists you follow"
    message["Message-ID"] = "<bench-NUMBER@example.com>"
    line = "A new album is out today; listen to it where you stream music.\n"
    message.set_content(line * (size // len(line)))
    raw = message.as_bytes()
    head, tail = raw.split(b"NUMBER", 1)
    return head, tail


def send(port: int, first: int, count: int, barrier: Barrier | None = None) -> None:
    head, tail = message_parts()
    with smtplib.SMTP(HOST, port) as client:
        client.ehlo()
        if barrier is not None:
            barrier.wait()
        for number in range(first, first + count):
            client.sendmail(SENDER, [f"user{number}@example.com"], head + str(number).encode() + tail)


CANNED = {b"EHLO": b"250-canned\r\n250 8BITMIME\r\n", b"DATA": b"354 go\r\n", b"QUIT": b"221 bye\r\n"}


def serve_canned_replies(port_out: Connection) -> None:
    """One SMTP client, answered with canned replies and no bookkeeping: the floor for any sink."""
    with socket.create_server((HOST, 0)) as listener:
        port_out.send(listener.getsockname()[1])
        connection, _ = listener.accept()
    with connection:
        connection.sendall(b"220 canned\r\n")
        pending, in_data = b"", False
        while chunk := connection.recv(65536):
            pending += chunk
            replies = []
            while True:
                if in_data:
                    end = pending.find(b"\r\n.\r\n")
                    if end < 0:
                        break
                    pending, in_data = pending[end + 5 :], False
                    replies.append(b"250 queued\r\n")
                    continue
                end = pending.find(b"\n")
                if end < 0:
                    break
                verb, pending = pending[:4].upper(), pending[end + 1 :]
                if verb == b"DATA":
                    pending, in_data = b"\r\n" + pending, True
                replies.append(CANNED.get(verb, b"250 ok\r\n"))
            connection.sendall(b"".join(replies))


def canned_rate(count: int) -> float:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    server = context.Process(target=serve_canned_replies, args=(sender,))
    server.start()
    port = receiver.recv()
    start = time.perf_counter()
    send(port, 0, count)
    elapsed = time.perf_counter() - start
    server.join()
    return count / elapsed


class Run(NamedTuple):
    rate: float  # messages/s, as the clients saw it
    sink_cpu: float  # the sink's CPU seconds per message


def measure(sink: SmtpSink, count: int, clients: int) -> Run:
    """Send ``count`` messages from ``clients`` processes (one connection each; 1: this process)."""
    sink.reset()
    before = sink.stats()["cpu_seconds"]
    if clients == 1:
        start = time.perf_counter()
        send(sink.port, 0, count)
        elapsed = time.perf_counter() - start
    else:
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(clients + 1)  # every client connected, and this process, before the clock starts
        bounds = [count * n // clients for n in range(clients + 1)]
        workers = [
            context.Process(target=send, args=(sink.port, first, end - first, barrier))
            for first, end in itertools.pairwise(bounds)
        ]
        for worker in workers:
            worker.start()
        barrier.wait()
        start = time.perf_counter()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - start
        assert all(worker.exitcode == 0 for worker in workers)
    stats = sink.wait_for(count, timeout=30)
    assert stats["messages"] == stats["unique_recipients"] == count, stats
    assert not stats["duplicates"], stats
    return Run(count / elapsed, (stats["cpu_seconds"] - before) / count)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.smtp_sink_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="report the best of this many runs of each")
    args = parser.parse_args()
    size = len(b"".join(message_parts())) + 1
    with SmtpSink() as sink:
        send(sink.port, 0, 200)  # warm up
        for clients, name in ((1, "1 connection"), (2, "2 connections from 2 processes")):
            runs = [measure(sink, args.messages, clients) for _ in range(args.rounds)]
            best = max(runs)
            print(
                f"{name}: {best.rate:,.0f} messages/s, sink CPU {best.sink_cpu * 1e6:.0f} µs/message "
                f"(runs: {', '.join(f'{run.rate:,.0f}' for run in runs)}; {args.messages:,} messages of {size:,} bytes)"
            )
            if clients == 1:
                floor = [canned_rate(args.messages) for _ in range(args.rounds)]
                print(
                    f"1 connection to a server sending canned replies: {max(floor):,.0f} messages/s "
                    f"(runs: {', '.join(f'{rate:,.0f}' for rate in floor)})"
                )


if __name__ == "__main__":
    main()
