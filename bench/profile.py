#!/usr/bin/env python3
"""Profiles the submit path and the verdict-cache hit: starts the stack as scripts/bench does,
sends paced submissions (each compiled) and then submissions the verdict cache answers, and
prints each phase's latency and the CPU the responders and the worker spent per request
(read from /proc). With --perf PREFIX, `perf record -g` samples the responders and the worker
(and their compilers) during each phase into PREFIX-submit.data and PREFIX-hit.data.

    WIC_BIN_DIR=$(scripts/build-release) WIC_SKIP_SETUP=1 python3 bench/profile.py [--perf PREFIX]
Then e.g. `perf report -i PREFIX-hit.data --children --comm will-it-compile --dsos will-it-compile-worker --sort sym`."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--perf", metavar="PREFIX", help="record perf samples into PREFIX-submit.data and PREFIX-hit.data")
    parser.add_argument("--submits", type=int, default=200, help="paced submissions, 20 per second (default 200)")
    parser.add_argument("--hits", type=int, default=1000, help="submissions answered from the verdict cache (default 1000)")
    arguments = parser.parse_args()
    bench = B.Bench(True)
    shutil.rmtree(bench.run_dir, ignore_errors=True)
    bench.start()
    try:
        responders, worker = B.children(bench.pid("responders")), [bench.pid("worker")]
        connection = B.Connection(bench.port)
        nonce = time.time_ns()
        for index in range(20):  # warm-up: connections, page cache, the compiler
            connection.request("POST", "/api/v1/compile", json.dumps({"source_code": f"int main(void){{return 1;}} /* w{nonce}-{index} */", "language": "c"}))
        bench.wait_until_idle()
        for phase in ["submit", "hit"]:
            before = (B.cpu_ticks(responders), B.cpu_ticks(worker))
            perf = None
            if arguments.perf:
                perf = subprocess.Popen(["perf", "record", "-F", "4999", "-g", "-o", f"{arguments.perf}-{phase}.data",
                                         "-p", ",".join(map(str, responders + worker))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1)
            latencies = []
            if phase == "submit":
                for index in range(arguments.submits):
                    body = json.dumps({"source_code": f"int main(void){{return {index % 100};}} /* {nonce}-{index} */", "language": "c"})
                    latencies.append(connection.request("POST", "/api/v1/compile", body)[3] * 1000)
                    time.sleep(0.05)
            else:
                body = json.dumps({"source_code": f"int main(void){{return 0;}} /* cache {nonce} */", "language": "c"})
                connection.request("POST", "/api/v1/compile?wait=30", body)
                for _ in range(arguments.hits):
                    status, _, data, elapsed = connection.request("POST", "/api/v1/compile?wait=30", body)
                    if status != 200 or json.loads(data).get("cached") is not True:
                        raise RuntimeError(f"not answered from the verdict cache: {status} {data[:200]}")
                    latencies.append(elapsed * 1000)
            if perf:
                perf.send_signal(2)
                perf.wait()
            per_request = [(B.cpu_ticks(group) - start) * 1e6 / os.sysconf("SC_CLK_TCK") / len(latencies)
                           for group, start in zip((responders, worker), before)]
            print(f"{phase}: p50 {B.percentile(latencies, 0.5):.2f} ms p99 {B.percentile(latencies, 0.99):.2f} ms; "
                  f"CPU per request: responders {per_request[0]:.0f} us, worker {per_request[1]:.0f} us"
                  + (" (the worker's includes running the compiles)" if phase == "submit" else ""), flush=True)
            bench.wait_until_idle()
    finally:
        bench.stop()


if __name__ == "__main__":
    sys.exit(main())
