"""`python -m bench.loadgen URL CLIENTS SECONDS paced|flood`: an HTTP load generator (aiohttp, no wrk needed)
in a process of its own, so that its work is not the server's; prints one JSON line of figures. It imports
nothing of opsbot, so it starts in a fraction of a second."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any

import aiohttp


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def load(url: str, clients: int, seconds: float, paced: bool) -> dict[str, Any]:
    """`clients` connections asking for `url` for `seconds`: `paced`, each once a second; else each again
    as soon as it is answered."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def client(number: int) -> None:
            nonlocal errors
            if paced:
                await asyncio.sleep(number / clients)  # spread over the first second
            while (start := time.perf_counter()) < deadline:
                try:
                    async with http.get(url) as resp:
                        await resp.read()
                        if resp.status != 200:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                done = time.perf_counter()
                latencies.append(done - start)
                if paced:
                    await asyncio.sleep(max(0.0, 1.0 - (done - start)))

        began = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        took = time.perf_counter() - began
    return {
        "clients": clients,
        "mode": "paced" if paced else "flood",
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": len(latencies) / took,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[3] not in ("paced", "flood"):
        print("usage: python -m bench.loadgen URL CLIENTS SECONDS paced|flood", file=sys.stderr)
        return 2
    url, clients, seconds, mode = argv
    print(json.dumps(asyncio.run(load(url, int(clients), float(seconds), mode == "paced"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
