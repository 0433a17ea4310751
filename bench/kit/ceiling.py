"""The ceiling: a bare asyncio loop sending the controller's own requests for each task,
with the controller's concurrency, and nothing else (no informers, queue or builders).

Run as a process (`python -m bench.kit.ceiling`) so it has a core's worth of Python
to itself, as the controller does. It loads the precomputed requests, says "ready",
then reads "name uid" lines on stdin as the driver creates the tasks; each line is
one task for the workers. End of input: it finishes, prints "sent N cpu SECONDS"
(its own CPU time, as it is gone before anyone could read /proc) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import sys
import time
from pathlib import Path

from bench.kit.apiclient import Api, Credentials
from bench.kit.recorded import TaskRequests
from bench.kit.replay import send_steps


async def _serve(plan: dict[str, TaskRequests], args: argparse.Namespace) -> int:
    queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    sent = 0

    async def worker(api: Api) -> None:
        nonlocal sent
        while (item := await queue.get()) is not None:
            name, uid = item
            steps = plan[name].for_uid(uid)
            done = await send_steps(api, steps, apply_concurrency=args.apply_concurrency)
            sent += done

    credentials = Credentials.from_kubeconfig(args.kubeconfig)
    async with Api(credentials, connections=args.connections) as api:
        workers = [asyncio.create_task(worker(api)) for _ in range(args.workers)]
        print("ready", flush=True)
        while line := await reader.readline():
            name, uid = line.decode().split()
            queue.put_nowait((name, uid))
        for _ in workers:
            queue.put_nowait(None)
        await asyncio.gather(*workers)
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--plan", type=Path, required=True, help="pickled {name: TaskRequests}")
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--apply-concurrency", type=int, required=True)
    parser.add_argument("--connections", type=int, required=True)
    args = parser.parse_args()
    plan: dict[str, TaskRequests] = pickle.loads(args.plan.read_bytes())
    sent = asyncio.run(_serve(plan, args))
    print(f"sent {sent} cpu {time.process_time():.3f}", flush=True)


if __name__ == "__main__":
    main()
