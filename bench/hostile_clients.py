#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hostile_clients.py: the clients a public server meets on a bad day, on
loopback, against ahead-serve (issue 9, section 2):

  --idle N       connections that connect and never send, kept at N (a
                 closed one is opened again);
  --slow N       slow-header clients: a request head one byte every
                 --slow-interval seconds, never finished in time;
  --malformed N  requests from a generator, over --conns connections at a
                 time (at most --rate per second if given), each
                 answer read: random bytes, overlong URLs, broken
                 percent-encoding and UTF-8, NULs, huge and negative k,
                 repeated parameters, bad methods and versions, oversized
                 heads and bodies, pipelined garbage.

It runs until the malformed requests are all sent and --duration seconds
have passed, then prints one JSON line: answers by status class, how many
connections the server closed or reset, and how many idle and slow
connections it ended. A 5xx answer is a failure (exit 1); so is a server
that stops accepting (no answer at all to the last 1,000 requests).
Deterministic for a given --seed."""
import argparse
import asyncio
import json
import random
import resource
import sys
import time

GOOD_PATHS = ["/v1/complete?q=a", "/v1/complete?q=re&k=5", "/v1/indexes", "/healthz"]


def malformed_request(rng: random.Random) -> bytes:
    """One hostile request (or several, pipelined), as bytes on the wire."""
    kind = rng.randrange(14)
    # Each asks to be closed after its answer, so the reader knows the end.
    host = b"Host: 127.0.0.1\r\nConnection: close\r\n"
    keep = b"Host: 127.0.0.1\r\n"
    if kind == 0:  # random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    if kind == 1:  # an overlong URL (below and above libh2o's head limit)
        n = rng.choice([9000, 70000, 500000])
        return b"GET /v1/complete?q=" + b"a" * n + b" HTTP/1.1\r\n" + host + b"\r\n"
    if kind == 2:  # broken percent-encoding
        q = rng.choice([b"%", b"%z", b"%4", b"%%%", b"a%g0b", b"%E2%82"])
        return b"GET /v1/complete?q=" + q + b" HTTP/1.1\r\n" + host + b"\r\n"
    if kind == 3:  # invalid UTF-8, encoded and raw
        q = rng.choice([b"%FF%FE", b"%C0%AF", b"%ED%A0%80", b"\xff\xfe", b"%F4%90%80%80"])
        return b"GET /v1/complete?q=" + q + b" HTTP/1.1\r\n" + host + b"\r\n"
    if kind == 4:  # NULs
        return rng.choice([b"GET /v1/complete?q=a%00b HTTP/1.1\r\n" + host + b"\r\n",
                           b"GET /v1/comp\x00lete?q=a HTTP/1.1\r\n" + host + b"\r\n",
                           b"GET /v1/complete?q=a HTTP/1.1\r\nX: a\x00b\r\n" + host + b"\r\n"])
    if kind == 5:  # huge and negative k
        k = rng.choice([b"-1", b"0", b"256", b"99999999999999999999", b"1e3", b"%31%30", b"+5"])
        return b"GET /v1/complete?q=a&k=" + k + b" HTTP/1.1\r\n" + host + b"\r\n"
    if kind == 6:  # repeated and unknown parameters
        qs = b"&".join(rng.choice([b"q=a", b"q=b", b"k=3", b"k=x", b"typos=9", b"match=no",
                                   b"format=xml", b"=", b"&", b"zz"]) for _ in range(rng.randrange(1, 40)))
        return b"GET /v1/complete?" + qs + b" HTTP/1.1\r\n" + host + b"\r\n"
    if kind == 7:  # methods and versions
        line = rng.choice([b"DELETE /v1/complete?q=a HTTP/1.1", b"BREW /v1/complete HTTP/1.1",
                           b"GET /v1/complete?q=a HTTP/1.2", b"GET /v1/complete?q=a HTTP/3.0",
                           b"GET /v1/complete?q=a", b"GET  HTTP/1.1", b"OPTIONS * HTTP/1.1"])
        return line + b"\r\n" + host + b"\r\n"
    if kind == 8:  # too many or too long headers
        hdrs = b"".join(b"X-%d: %s\r\n" % (i, b"v" * rng.choice([1, 5000])) for i in range(rng.choice([50, 120])))
        return b"GET /v1/complete?q=a HTTP/1.1\r\n" + host + hdrs + b"\r\n"
    if kind == 9:  # bodies: too large, broken framing
        return rng.choice([b"POST /v1/complete?q=a HTTP/1.1\r\n" + host + b"Content-Length: 99999999\r\n\r\n",
                           b"POST /v1/complete?q=a HTTP/1.1\r\n" + host + b"Transfer-Encoding: gzip\r\n\r\n",
                           b"POST /v1/complete?q=a HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
                           b"POST /v1/complete?q=a HTTP/1.1\r\n" + host + b"Content-Length: -5\r\n\r\n"])
    if kind == 10:  # pipelined: good requests and garbage
        reqs = [rng.choice([b"GET %s HTTP/1.1\r\n" % p.encode() + keep + b"\r\n" for p in GOOD_PATHS] +
                           [b"\x16\x03\x01garbage\r\n\r\n"]) for _ in range(rng.randrange(2, 30))]
        return b"".join(reqs) + b"GET /healthz HTTP/1.1\r\n" + host + b"\r\n"
    if kind == 11:  # paths
        p = rng.choice([b"/v1/indexes/../../etc/passwd/complete?q=a", b"/v1/indexes/%00/complete",
                        b"/" + b"x/" * 2000, b"/v1/indexes/" + b"n" * 300 + b"/complete?q=a",
                        b"/v1/complete/?q=a", b"//v1//complete?q=a"])
        return b"GET " + p + b" HTTP/1.1\r\n" + host + b"\r\n"
    if kind == 12:  # headers the API reads, hostile values
        v = rng.choice([b"*", b"W/", b"\"" * 300, b"W/\"x\", " * 500, b""])
        return b"GET /v1/complete?q=a HTTP/1.1\r\n" + host + b"If-None-Match: " + v + b"\r\n\r\n"
    # 13: a good request, so the connection has something to answer
    return b"GET " + rng.choice(GOOD_PATHS).encode() + b" HTTP/1.1\r\n" + host + b"\r\n"


class Stats:
    def __init__(self):
        self.status = {}
        self.closed = 0
        self.reset = 0
        self.idle_ended = 0
        self.slow_ended = 0
        self.recent = []  # 1 when a request got an answer, for the last ones

    def answer(self, code: int):
        key = "%dxx" % (code // 100)
        self.status[key] = self.status.get(key, 0) + 1


async def read_answers(reader, stats: Stats, deadline: float) -> int:
    """Reads whatever comes back until the server closes or goes quiet; counts the status lines."""
    got = 0
    buf = b""
    while time.monotonic() < deadline:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), timeout=1.0)
        except asyncio.TimeoutError:
            break
        except (ConnectionResetError, BrokenPipeError):
            stats.reset += 1
            break
        if not chunk:
            stats.closed += 1
            break
        buf += chunk
        while True:
            i = buf.find(b"HTTP/1.1 ")
            if i < 0 or len(buf) < i + 12:
                buf = buf[-16:]
                break
            try:
                stats.answer(int(buf[i + 9:i + 12]))
                got += 1
            except ValueError:
                pass
            buf = buf[i + 12:]
    return got


async def malformed_worker(args, rng, stats: Stats, todo: list):
    while todo:
        todo.pop()
        req = malformed_request(rng)
        try:
            reader, writer = await asyncio.open_connection(args.host, args.port)
        except OSError:
            stats.recent.append(0)
            await asyncio.sleep(0.01)
            continue
        try:
            writer.write(req)
            await writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            stats.reset += 1
        got = await read_answers(reader, stats, time.monotonic() + 5)
        stats.recent = stats.recent[-999:] + [1 if got or stats.closed else 0]
        writer.close()
        if args.rate > 0:
            await asyncio.sleep(args.conns / args.rate)


async def idle_conn(args, stats: Stats, stop: asyncio.Event):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(args.host, args.port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        try:
            data = await reader.read(1)  # the server closes it at its request timeout
            if not data:
                stats.idle_ended += 1
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        writer.close()


async def slow_conn(args, stats: Stats, stop: asyncio.Event):
    head = b"GET /v1/complete?q=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 200 + b"\r\n\r\n"
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(args.host, args.port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        try:
            for b in head:
                if stop.is_set():
                    break
                writer.write(bytes([b]))
                await writer.drain()
                await asyncio.sleep(args.slow_interval)
                if reader.at_eof():
                    break
        except (ConnectionResetError, BrokenPipeError):
            pass
        stats.slow_ended += 1
        writer.close()


async def main_async(args) -> int:
    rng = random.Random(args.seed)
    stats = Stats()
    stop = asyncio.Event()
    start = time.monotonic()
    background = [asyncio.create_task(idle_conn(args, stats, stop)) for _ in range(args.idle)]
    background += [asyncio.create_task(slow_conn(args, stats, stop)) for _ in range(args.slow)]
    todo = list(range(args.malformed))
    workers = [asyncio.create_task(malformed_worker(args, random.Random(rng.random()), stats, todo))
               for _ in range(args.conns)]
    await asyncio.gather(*workers)
    left = args.duration - (time.monotonic() - start)
    if left > 0:
        await asyncio.sleep(left)
    stop.set()
    for t in background:
        t.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    answered_recent = sum(stats.recent)
    out = {"seconds": round(time.monotonic() - start, 1), "malformed": args.malformed,
           "answers": stats.status, "closed_by_server": stats.closed, "reset": stats.reset,
           "idle_ended_by_server": stats.idle_ended, "slow_ended": stats.slow_ended,
           "last_answered": "%d/%d" % (answered_recent, len(stats.recent))}
    print(json.dumps(out))
    if stats.status.get("5xx", 0) > 0:
        print("hostile_clients.py: the server answered 5xx", file=sys.stderr)
        return 1
    if stats.recent and answered_recent == 0:
        print("hostile_clients.py: the server stopped answering", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--slow", type=int, default=200)
    ap.add_argument("--slow-interval", type=float, default=1.0)
    ap.add_argument("--malformed", type=int, default=100000)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--rate", type=float, default=0, help="malformed requests per second at most (0: as fast as answered)")
    ap.add_argument("--duration", type=float, default=0)
    ap.add_argument("--seed", type=int, default=20261202)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.idle + args.slow + args.conns + 64
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(need, soft), hard), hard))
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
