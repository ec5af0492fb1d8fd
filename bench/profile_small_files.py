"""Where the time of the small-file proxy scenario goes: files/s with the CPU of both ends.

Runs only the small-file part of :func:`artifacts.measure` (the same client,
:class:`artifacts.SmallFileClient`, from 8 threads, 4 KiB bodies, ``PUT`` then ``GET``) against one
side's server, ``--rounds``
times, and prints for each round the rate, the CPU seconds per request of the server's process group
(from ``/proc``) and of this client process, and the 1-minute load average. CPU per request is the
figure to compare before and after a change on a shared machine; the rate moves with the load.

    .venv/bin/python bench/profile_small_files.py --side modelyard --rounds 3
    .venv/bin/python bench/profile_small_files.py --py-spy /tmp/server.svg   # one worker's profile
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from artifacts import PROXY, SMALL_BYTES, THREADS, SmallFileClient, group_cpu, group_stats
from servers import SIDES, serve


def group_pids(leader: int) -> list[int]:
    """The processes of the group led by ``leader``, but not the leader: the server's workers."""
    return [int(entry.name) for entry, _ in group_stats(leader) if int(entry.name) != leader]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=sorted(SIDES), default="modelyard")
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument(
        "--py-spy",
        metavar="OUT",
        help="record a server worker (.svg: flame graph, else raw stacks)",
    )
    args = parser.parse_args()
    side = SIDES[args.side]
    side.ensure_ready()
    payloads = [os.urandom(SMALL_BYTES) for _ in range(args.files)]
    with tempfile.TemporaryDirectory(prefix="profile-small-") as tmp, serve(side, Path(tmp)) as srv:
        client = SmallFileClient(srv.port)
        try:
            folder = ["warm"]  # each round writes new files, as the bench does

            def put(i: int) -> None:
                path = f"{PROXY}/bench/{folder[0]}/f{i:05d}.bin"
                status, text = client.request("PUT", path, payloads[i])
                if status != 200:
                    raise SystemExit(f"PUT answered {status}: {text[:300]!r}")

            def get(i: int) -> None:
                status, data = client.request("GET", f"{PROXY}/bench/{folder[0]}/f{i:05d}.bin")
                if status != 200 or data != payloads[i]:
                    raise SystemExit(f"GET {i} answered {status} or other bytes")

            with ThreadPoolExecutor(args.threads) as pool:  # warm every connection and worker
                list(pool.map(put, range(min(200, args.files))))
            spy = None
            if args.py_spy:
                pid = group_pids(srv.process.pid)[0]
                spy = subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "-p",
                        str(pid),
                        "-o",
                        args.py_spy,
                        "-r",
                        "500",
                        "--nonblocking",
                        *([] if args.py_spy.endswith(".svg") else ["--format", "raw"]),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1.0)
            for round_ in range(args.rounds):
                folder[0] = f"round{round_}"
                for name, action in (("PUT", put), ("GET", get)):
                    server0, client0 = group_cpu(srv.process.pid), os.times()
                    started = time.perf_counter()
                    with ThreadPoolExecutor(args.threads) as pool:
                        list(pool.map(action, range(args.files)))
                    elapsed = time.perf_counter() - started
                    server1, client1 = group_cpu(srv.process.pid), os.times()
                    per = 1e3 / args.files
                    s_user, s_sys = (server1[0] - server0[0]) * per, (server1[1] - server0[1]) * per
                    c_user = (client1.user - client0.user) * per
                    c_sys = (client1.system - client0.system) * per
                    print(
                        f"round {round_} {name}: {args.files / elapsed:6.0f} files/s  "
                        f"server {s_user + s_sys:.3f} ms CPU/req ({s_user:.3f} user)  "
                        f"client {c_user + c_sys:.3f} ms ({c_user:.3f} user)  "
                        f"load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
            if spy is not None:
                spy.send_signal(2)
                spy.wait(timeout=60)
        finally:
            client.close()


if __name__ == "__main__":
    main()
