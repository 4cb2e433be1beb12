#!/usr/bin/env python3
"""Benchmarks will-it-compile side by side with references, in one run on one
machine, and reports ratios (absolute numbers on a shared machine drift).
Run through scripts/bench, which installs what it needs; see docs/PERFORMANCE.md."""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER = "willitcompile"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Connection:
    """One keep-alive HTTP/1.1 connection on a raw socket, so the client's own cost per
    request stays in microseconds and out of the figures (http.client adds ~0.5 ms)."""

    def __init__(self, port):
        self.port = port
        self.sock = None

    def request(self, method, path, body=None):
        """(status, headers, body, seconds); reconnects once if nginx closed the kept connection."""
        payload = body.encode() if isinstance(body, str) else (body or b"")
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        message = head.encode() + b"\r\n" + payload
        for attempt in range(2):
            started = time.perf_counter()
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.sock.sendall(message)
                status, headers, data = self.read_response()
                if headers.get("connection", "").lower() == "close":
                    self.close()
                return status, headers, data, time.perf_counter() - started
            except (ConnectionError, EOFError):
                self.close()
                if attempt == 1:
                    raise

    def read_response(self):
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            buffer += chunk
        head, rest = buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            rest += chunk
        return status, headers, rest[:length]

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def request(port, method, path, body=None):
    """One exchange on a connection of its own: (status, headers, body, seconds)."""
    connection = Connection(port)
    try:
        return connection.request(method, path, body)
    finally:
        connection.close()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def cpu_ticks(pids):
    """User plus system CPU time of the processes, in clock ticks."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def wrk(url, seconds, connections, responders=()):
    """wrk's figures, plus the CPU time the responder processes spent per request."""
    before = cpu_ticks(responders)
    output = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                            capture_output=True, text=True, check=True).stdout
    spent = cpu_ticks(responders) - before
    def latency(label):
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    return {"requests_per_second": rps, "p50_ms": latency("50"), "p99_ms": latency("99"),
            "non_2xx": int(errors.group(1)) if errors else 0,
            "responder_cpu_us_per_request": spent / os.sysconf("SC_CLK_TCK") * 1e6 / max(requests, 1)}


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1))
    except (OSError, AttributeError):
        return 0


def cpu_subtree():
    """The service's delegated subtree in the cgroup hierarchy that has the cpu controller
    (scripts/setup-cgroups makes it), or None where there is none."""
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            separator = fields.index("-")
            kind, mount, options = fields[separator + 1], fields[4], fields[separator + 3].split(",")
            if kind == "cgroup" and "cpu" in options or kind == "cgroup2" and "cpu" in open(os.path.join(mount, "cgroup.controllers")).read().split():
                subtree = os.path.join(mount, "will-it-compile")
                return subtree if os.path.isdir(subtree) else None
    return None


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid and fields[0] != "Z":
                    found.append(int(entry))
            except OSError:
                pass
    return found


class Bench:
    def __init__(self, quick):
        self.quick = quick
        self.run_dir = os.path.join(REPO, "run", "bench")
        self.bin_dir = os.environ.get("WIC_BIN_DIR") or subprocess.run(
            ["swift", "build", "-c", "release", "--show-bin-path"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        self.port, self.ref_port, self.static_port = free_port(), free_port(), free_port()
        self.max_workers = int(os.environ.get("MAX_WORKERS", os.cpu_count() or 2))
        self.children = os.environ.get("FCGI_CHILDREN", "2")
        self.threads = os.environ.get("FCGI_THREADS", "8")
        self.results = {"quick": quick, "max_workers": self.max_workers, "fcgi_children": int(self.children),
                        "fcgi_threads": int(self.threads)}
        # scripts/bench has run scripts/setup already.
        self.env = dict(os.environ, WIC_SKIP_SETUP="1", WIC_RUN_DIR=self.run_dir, WIC_BIN_DIR=self.bin_dir, PORT=str(self.port),
                        RATE_LIMIT_PER_SECOND="100000", RATE_LIMIT_BURST="100000", QUEUE_SIZE="1000",
                        CLUSTER_RATE_LIMIT_PER_SECOND="100000", CLUSTER_RATE_LIMIT_BURST="100000",
                        READ_RATE_LIMIT_PER_SECOND="1000000", READ_RATE_LIMIT_BURST="1000000", CONN_LIMIT_PER_CLIENT="60000",
                        MAX_WORKERS=str(self.max_workers), FCGI_CHILDREN=self.children, FCGI_THREADS=self.threads)
        self.env.pop("REDIS_ADDR", None)
        self.env.pop("REDIS_ENABLED", None)
        # The saturation run is one client submitting every job: no per-client share in its way.
        self.env["MAX_JOBS_PER_CLIENT"] = "1000"
        self.reference_pids = []

    # The stack, and the C reference beside it under the same spawn-fcgi/multiwatch/nginx settings.
    def start(self):
        subprocess.run([os.path.join(REPO, "scripts/run"), "--detach"], env=self.env, check=True)
        reference_dir = os.path.join(self.run_dir, "reference")
        os.makedirs(os.path.join(reference_dir, "nginx"), exist_ok=True)
        os.makedirs(os.path.join(reference_dir, "nginx-work"), exist_ok=True)
        os.makedirs(os.path.join(reference_dir, "logs"), exist_ok=True)
        binary = os.path.join(reference_dir, "reference")
        subprocess.run(["gcc", "-O2", "-o", binary, os.path.join(REPO, "bench/reference/reference.c"),
                        "-lfcgi", "-lhiredis", "-lpthread"], check=True)
        with open(os.path.join(reference_dir, "static.json"), "w") as static:
            static.write("{}")  # replaced by a completed job's body in read_path
        # The same body limit as the stack's nginx, which scripts/run got from the responder (--body-limit).
        with open(os.path.join(self.run_dir, "nginx", "will-it-compile.conf")) as rendered:
            body_limit = re.search(r"client_max_body_size (\d+);", rendered.read()).group(1)
        substitutions = {"@LISTEN@": f"127.0.0.1:{self.ref_port}", "@FCGI_SOCKET@": os.path.join(reference_dir, "fcgi.sock"),
                         "@BODY_LIMIT@": body_limit, "@RATE@": "100000", "@BURST@": "100000", "@READ_RATE@": "1000000",
                         "@READ_BURST@": "1000000", "@CONN_LIMIT@": "60000", "@NOFILE@": "20000", "@WORKER_CONNECTIONS@": "9000",
                         "@WORK_DIR@": os.path.join(reference_dir, "nginx-work"), "@LOG_DIR@": os.path.join(reference_dir, "logs"),
                         "@CONF_DIR@": os.path.join(reference_dir, "nginx"), "@SET_REAL_IP_FROM@": "", "@OPENAPI_FILE@": os.path.join(REPO, "openapi.yaml"),
                         "@METRICS_ALLOW@": "", "@WEB_DIR@": os.path.join(REPO, "web")}
        # No listener of its own for /metrics (METRICS_LISTEN): nginx.conf includes an empty file.
        open(os.path.join(reference_dir, "nginx", "metrics.conf"), "w").close()
        for name in ["will-it-compile.conf", "will-it-compile-page-headers.conf", "nginx.conf", "fastcgi_params"]:
            with open(os.path.join(REPO, "nginx", name)) as template:
                text = template.read()
            for key, value in substitutions.items():
                text = text.replace(key, value)
            if name == "nginx.conf":
                static_server = (f"    server {{ listen 127.0.0.1:{self.static_port}; server_tokens off;\n"
                                 f"        location = /static.json {{ alias {reference_dir}/static.json; default_type application/json; }} }}\n")
                text = text.replace(f"include {reference_dir}/nginx/will-it-compile.conf;",
                                    f"include {reference_dir}/nginx/will-it-compile.conf;\n{static_server}")
            with open(os.path.join(reference_dir, "nginx", name), "w") as out:
                out.write(text)
        subprocess.run(["chown", "-R", f"{USER}:", reference_dir], check=True)
        as_user = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--"]
        environment = dict(os.environ, REDIS_SOCKET=os.path.join(self.run_dir, "redis.sock"), FCGI_THREADS=self.threads)
        log = open(os.path.join(reference_dir, "logs", "reference.log"), "a")
        self.reference_pids.append(subprocess.Popen(
            ["setsid"] + as_user + ["spawn-fcgi", "-n", "-s", os.path.join(reference_dir, "fcgi.sock"), "-M", "0660", "--",
                                    "/usr/bin/multiwatch", "-f", self.children, "--", binary],
            env=environment, stdout=log, stderr=log).pid)
        self.reference_pids.append(subprocess.Popen(
            ["setsid"] + as_user + ["nginx", "-e", os.path.join(reference_dir, "logs", "error.log"), "-p", os.path.join(reference_dir, "nginx"),
                                    "-c", os.path.join(reference_dir, "nginx", "nginx.conf"), "-g", "daemon off;"],
            stdout=log, stderr=log).pid)
        # Ready when the reference responder answers (its 404 for an unknown job,
        # not nginx's 502) and the static file is served.
        deadline = time.time() + 30
        while True:
            try:
                if request(self.ref_port, "GET", "/api/v1/compile/none")[0] == 404 and request(self.static_port, "GET", "/static.json")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"the C reference did not start; see {reference_dir}/logs")
            time.sleep(0.05)

    def stop(self):
        for pid in self.reference_pids:
            try:
                os.kill(pid, 15)
            except OSError:
                pass
        subprocess.run([os.path.join(REPO, "scripts/stop"), "--quiet", self.run_dir], env=self.env)

    def compile(self, body, connection=None):
        """Submits, then long-polls until the job is terminal: (seconds, final JSON)."""
        connection = connection or Connection(self.port)
        started = time.perf_counter()
        status, headers, data, _ = connection.request("POST", "/api/v1/compile", body)
        while status == 429:
            time.sleep(float(headers.get("retry-after", "1")))
            status, headers, data, _ = connection.request("POST", "/api/v1/compile", body)
        final = self.wait_for(json.loads(data)["job_id"], connection)
        return time.perf_counter() - started, final

    def wait_for(self, job_id, connection):
        while True:
            _, _, data, _ = connection.request("GET", f"/api/v1/compile/{job_id}?wait=30")
            final = json.loads(data)
            if final["status"] not in ("queued", "processing"):
                return final
            time.sleep(0.01)  # every waiting slot was taken: the answer came at once

    def worker_output(self, *arguments):
        return subprocess.run(["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--",
                               os.path.join(self.bin_dir, "will-it-compile-worker"), *arguments],
                              env=dict(os.environ, WORKER_CATALOG=os.path.join(REPO, "toolchains/catalog")),
                              capture_output=True, check=True).stdout

    def sandbox_command(self, language, *compiler_and_standard):
        return json.loads(self.worker_output("--sandbox-command", language, *compiler_and_standard))

    def seccomp_filter(self):
        """The worker's seccomp filter, in a file the raw compiles give bwrap on descriptor 6."""
        if not hasattr(self, "filter_path"):
            self.filter_path = os.path.join(self.run_dir, "seccomp.bpf")
            with open(self.filter_path, "wb") as out:
                out.write(self.worker_output("--seccomp-filter"))
        return self.filter_path

    def raw_compile(self, command, source, must_compile=True):
        """The worker's exact sandbox command, run directly as the service user with the
        source on descriptor 3 and the seccomp filter on 6 (bash and setpriv add about 2 ms
        to this side): seconds. A compile that fails is an error unless `must_compile` is off."""
        path = os.path.join("/tmp", f"wic-bench-raw-{os.getpid()}-{time.perf_counter_ns()}.c")
        with open(path, "w") as out:
            out.write(source)
        os.chmod(path, 0o644)
        wrapper = ["bash", "-c", 'exec "$@" 3<"$WIC_SOURCE" 4>/dev/null 5>/dev/null 6<"$WIC_FILTER"', "bash",
                   "setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--"] + command
        started = time.perf_counter()
        result = subprocess.run(wrapper, env=dict(os.environ, WIC_SOURCE=path, WIC_FILTER=self.seccomp_filter()), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - started
        os.unlink(path)
        if result.returncode != 0 and must_compile:
            raise RuntimeError(f"raw sandboxed compile failed ({result.returncode}): {result.stderr.decode(errors='replace')[-2000:]}")
        return elapsed

    # 1. Read path
    def read_path(self):
        _, final = self.compile(json.dumps({"source_code": "int main(void){return 0;}", "language": "c"}))
        job_id = final["job_id"]
        _, _, body, _ = request(self.port, "GET", f"/api/v1/compile/{job_id}")
        with open(os.path.join(self.run_dir, "reference", "static.json"), "wb") as static:
            static.write(body)
        # Alternating rounds, median of each: the machine's speed drifts within a run.
        rounds, seconds, connections = (3, 2, 16) if self.quick else (5, 5, 16)
        urls = {"ours": f"http://127.0.0.1:{self.port}/api/v1/compile/{job_id}",
                "reference": f"http://127.0.0.1:{self.ref_port}/api/v1/compile/{job_id}",
                "static": f"http://127.0.0.1:{self.static_port}/static.json"}
        responders = {"ours": children(self.pid("responders")), "reference": children(self.reference_pids[0]), "static": []}
        samples = {name: [] for name in urls}
        for _ in range(rounds):
            for name, url in urls.items():
                samples[name].append(wrk(url, seconds, connections, responders[name]))
        def median_run(runs):
            return sorted(runs, key=lambda run: run["requests_per_second"])[len(runs) // 2]
        ours, reference, static = (median_run(samples[name]) for name in urls)
        self.results["read_path"] = {"ours": ours, "c_reference": reference, "static_file": static,
                                     "rps_ours_over_c": ours["requests_per_second"] / reference["requests_per_second"],
                                     "p99_ours_over_c": ours["p99_ms"] / reference["p99_ms"],
                                     "rps_ours_over_static": ours["requests_per_second"] / static["requests_per_second"],
                                     "cpu_ours_over_c": ours["responder_cpu_us_per_request"] / max(reference["responder_cpu_us_per_request"], 1e-9)}

    # 2. Submit path at a steady rate below compile capacity
    def submit_path(self):
        """Paced submissions at `rate` per second to ours and to the C reference alternately, tick
        by tick, the first of each tick taking turns: every submission of ours starts a compile,
        and the C reference's writes are measured under the very same compiles."""
        rate, seconds = 20, (3 if self.quick else 15)
        nonce = time.time_ns()
        sides = {"ours": (Connection(self.port), lambda i: json.dumps(
                     {"source_code": f"int main(void){{return {i % 100};}} /* {nonce}-{i} */", "language": "c"})),
                 "c_reference": (Connection(self.ref_port), lambda i: json.dumps(
                     {"source_code": f"int main(void){{return {i % 100};}}", "language": "c"}))}
        latencies = {name: [] for name in sides}
        started = time.perf_counter()
        for index in range(rate * seconds):
            time.sleep(max(0, started + index / rate - time.perf_counter()))
            order = ["ours", "c_reference"] if index % 2 == 0 else ["c_reference", "ours"]
            for name in order:
                connection, make_body = sides[name]
                status, _, _, elapsed = connection.request("POST", "/api/v1/compile", make_body(index))
                if status == 202:
                    latencies[name].append(elapsed * 1000)
        ours, reference = ({"requests": len(values), "p50_ms": percentile(values, 0.5), "p99_ms": percentile(values, 0.99)}
                           for values in (latencies["ours"], latencies["c_reference"]))
        self.results["submit_path"] = {"rate_per_second": rate, "ours": ours, "c_reference": reference,
                                       "p50_ours_over_c": ours["p50_ms"] / reference["p50_ms"]}
        self.wait_until_idle()

    def wait_until_idle(self):
        while True:
            stats = json.loads(request(self.port, "GET", "/api/v1/workers/stats")[2])
            if stats.get("queued_jobs", 0) == 0 and stats.get("active_workers", 0) == 0:
                return
            time.sleep(0.05)

    # 3. Compile overhead
    def compile_overhead(self):
        count = 10 if self.quick else 50
        sources = {"c": "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n",
                   "cpp": "#include <iostream>\nint main() { std::cout << \"hello\\n\"; }\n"}
        self.results["compile_overhead"] = {}
        for language, source in sources.items():
            command = self.sandbox_command(language)
            self.raw_compile(command, source)  # warm the page cache for both sides
            service, raw = [], []
            for _ in range(count):
                # Compiled each time: the verdict cache would answer the same program from the second run on.
                seconds, final = self.compile(json.dumps({"source_code": source, "language": language, "cache": False}))
                if final["status"] != "completed":
                    raise RuntimeError(f"hello world did not compile: {final}")
                service.append(seconds * 1000)
                raw.append(self.raw_compile(command, source) * 1000)
            self.results["compile_overhead"][language] = {
                "runs": count, "service_median_ms": statistics.median(service), "service_p90_ms": percentile(service, 0.9),
                "raw_median_ms": statistics.median(raw), "raw_p90_ms": percentile(raw, 0.9),
                "ratio": statistics.median(service) / statistics.median(raw),
                "overhead_ms": statistics.median(service) - statistics.median(raw)}

    # 3b. Against the compilers themselves: what a user would otherwise run, with no sandbox and no service.
    DIRECT_CASES = [("c_hello", "c", None, "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n"),
                    ("cpp_hello", "cpp", None, "#include <iostream>\nint main() { std::cout << \"hello\\n\"; }\n"),
                    ("cpp20_file", "cpp", "c++20", None)]

    def direct(self):
        """Each case through the service (submit with ?wait=30, cache bypassed, one kept connection)
        against the worker's own compiler command line (same compiler, flags, standard and output:
        it compiles and links) run directly as this user in a directory of its own, alternating."""
        count = 10 if self.quick else 30
        connection = Connection(self.port)
        self.results["direct"] = {}
        for name, language, standard, source in self.DIRECT_CASES:
            if source is None:
                with open(os.path.join(REPO, "bench", "inventory.cpp")) as file:
                    source = file.read()
            arguments = ["cpp", "gcc-12", standard] if standard else [language]
            compiler = self.compiler_command(self.sandbox_command(*arguments))
            request = {"source_code": source, "language": language, "cache": False}
            if standard:
                request.update(compiler="gcc-12", standard=standard)
            body = json.dumps(request)
            self.direct_compile(compiler, source)  # warm the page cache for both sides
            self.submit_with_wait(body, connection)
            service, direct = [], []
            for _ in range(count):
                service.append(self.submit_with_wait(body, connection) * 1000)
                direct.append(self.direct_compile(compiler, source) * 1000)
            self.results["direct"][name] = {
                "runs": count, "compiler": compiler[0], "standard": standard or "default",
                "service_median_ms": statistics.median(service), "service_p90_ms": percentile(service, 0.9),
                "direct_median_ms": statistics.median(direct), "direct_p90_ms": percentile(direct, 0.9),
                "ratio": statistics.median(service) / statistics.median(direct)}

    def submit_with_wait(self, body, connection):
        """POST /api/v1/compile?wait=30 on a kept connection until the verdict: seconds (a compile
        that does not end `completed` stops the run)."""
        started = time.perf_counter()
        status, _, data, _ = connection.request("POST", "/api/v1/compile?wait=30", body)
        answer = json.loads(data)
        if status == 202:
            answer = self.wait_for(answer["job_id"], connection)
        elapsed = time.perf_counter() - started
        if answer.get("status") != "completed":
            raise RuntimeError(f"the direct section's source did not compile through the service: {answer}")
        return elapsed

    @staticmethod
    def compiler_command(sandbox_command):
        """The compiler's own argv in the worker's sandbox command: what follows bwrap's `--`
        and the `sh -c SCRIPT sh` that reports the artifact."""
        last = len(sandbox_command) - 1 - sandbox_command[::-1].index("--")
        command = sandbox_command[last + 1:]
        if command[:2] != ["/bin/sh", "-c"]:
            raise RuntimeError(f"unexpected sandbox command: {command}")
        return command[4:]

    def direct_compile(self, compiler, source):
        """The compiler run directly, with the sandbox's environment, in a fresh directory
        standing for /work: seconds. It must compile."""
        work = os.path.join(self.run_dir, f"direct-{time.perf_counter_ns()}")
        os.makedirs(work)
        command = [argument.replace("/work/", work + "/") for argument in compiler]
        with open(os.path.join(work, os.path.basename(command[-1])), "w") as out:
            out.write(source)
        environment = {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
        runner = self.direct_runner()
        runner.stdin.write(json.dumps({"argv": command, "cwd": work, "env": environment}) + "\n")
        runner.stdin.flush()
        answer = json.loads(runner.stdout.readline())
        shutil.rmtree(work)
        if answer["returncode"] != 0:
            raise RuntimeError(f"the direct compile failed ({answer['returncode']}): {answer['stderr'][-2000:]}")
        return answer["seconds"]

    # Runs each command it reads (a JSON line) and answers with its time, from inside a cpu
    # cgroup of its own beside the jobs' (see direct_runner).
    RUNNER = """
import json, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    started = time.perf_counter()
    result = subprocess.run(job["argv"], cwd=job["cwd"], env=job["env"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "returncode": result.returncode,
                      "stderr": result.stderr.decode(errors="replace")}), flush=True)
"""

    def direct_runner(self):
        """A process that runs the direct compiles from a cpu cgroup of its own in the service's
        subtree, so that they get the CPU share a job's sandbox gets: one equal weight. From
        the bench's own session they would share its autogroup with whatever else that session
        runs (a build), and a loaded machine would then make the service look faster than the
        compiler. It enters the cgroup once, and every compile it forks inherits it."""
        if getattr(self, "runner", None) is None:
            self.runner = subprocess.Popen([sys.executable, "-c", self.RUNNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.runner_cgroup = None
            cpu = cpu_subtree()
            if cpu:
                self.runner_cgroup = os.path.join(cpu, f"bench-direct-{os.getpid()}")
                os.makedirs(self.runner_cgroup, exist_ok=True)
                with open(os.path.join(self.runner_cgroup, "cgroup.procs"), "w") as procs:
                    procs.write(str(self.runner.pid))
        return self.runner

    def stop_direct_runner(self):
        if getattr(self, "runner", None) is not None:
            self.runner.stdin.close()
            self.runner.wait()
            self.runner = None
            if self.runner_cgroup:
                os.rmdir(self.runner_cgroup)

    # 4. A cache hit: submit with wait, answered from the verdict cache, against a status read,
    # each one request at a time on one kept connection.
    def cache_hit(self):
        count = 50 if self.quick else 300
        body = json.dumps({"source_code": f"int main(void){{return 0;}} /* cache {time.time_ns()} */", "language": "c"})
        connection = Connection(self.port)
        status, _, data, _ = connection.request("POST", "/api/v1/compile?wait=30", body)
        first = json.loads(data)
        if status != 200 or first.get("cached") is not False:
            raise RuntimeError(f"the first compile did not finish compiled: {status} {first}")
        hits, reads = [], []
        for _ in range(count):
            status, _, data, elapsed = connection.request("POST", "/api/v1/compile?wait=30", body)
            answer = json.loads(data)
            if status != 200 or answer.get("cached") is not True:
                raise RuntimeError(f"a repeated submission was not answered from the cache: {status} {answer}")
            hits.append(elapsed * 1000)
            status, _, _, elapsed = connection.request("GET", f"/api/v1/compile/{answer['job_id']}")
            reads.append(elapsed * 1000)
        self.results["cache_hit"] = {"requests": count, "hit_p50_ms": percentile(hits, 0.5), "hit_p99_ms": percentile(hits, 0.99),
                                     "read_p50_ms": percentile(reads, 0.5), "read_p99_ms": percentile(reads, 0.99),
                                     "p50_hit_over_read": percentile(hits, 0.5) / percentile(reads, 0.5)}

    # 5. Saturation
    def saturation(self):
        count = 40 if self.quick else 200
        nonce = time.time_ns()
        sources = [f"int main(void) {{ return {i % 7}; }} /* {nonce}-{i} */\n" for i in range(count)]
        # Submit everything as fast as it is accepted, then long-poll each job: a
        # few client threads, so the client does not compete with the compilers.
        clients = 4
        local = threading.local()
        def connection():
            if not hasattr(local, "connection"):
                local.connection = Connection(self.port)
            return local.connection
        def submit(index):
            body = json.dumps({"source_code": sources[index], "language": "c"})
            while True:
                status, headers, data, _ = connection().request("POST", "/api/v1/compile", body)
                if status != 429:
                    return json.loads(data)["job_id"]
                time.sleep(float(headers.get("retry-after", "1")))
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
            ids = list(pool.map(submit, range(count)))
            finals = list(pool.map(lambda job_id: self.wait_for(job_id, connection()), ids))
        service = time.perf_counter() - started
        if any(f["status"] != "completed" for f in finals):
            raise RuntimeError("a saturation job did not complete")
        command = self.sandbox_command("c")
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            list(pool.map(lambda s: self.raw_compile(command, s), sources))
        raw = time.perf_counter() - started
        self.results["saturation"] = {"jobs": count, "service_seconds": service, "xargs_p_seconds": raw,
                                      "throughput_ratio": raw / service}

    # 6. The compile matrix: one C++20 source over every C++ toolchain × standard, cache
    # bypassed, against the same sandboxed compiles `MAX_WORKERS` at a time (xargs -P).
    MATRIX_SOURCE = ("#include <concepts>\n#include <span>\n"
                     "template <std::integral T> T twice(T value) { return 2 * value; }\n"
                     "int main() { int numbers[] = {1, 2, 3}; std::span<int> view(numbers); return twice((int)view.size()) == 6 ? 0 : 1; }\n")

    def matrix(self):
        rounds = 1 if self.quick else 3
        accepted, report, _ = self.matrix_through_service(f"// warm-up {time.time_ns()}\n")
        cells = accepted["cells"]
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            commands = list(pool.map(lambda cell: self.sandbox_command("cpp", cell["compiler"], cell["standard"]), cells))
        # Every compiler's binary and headers are in the page cache for both sides: the warm-up
        # matrix ran each once. Then service and raw alternate, each round with a source of its own.
        service, raw = [], []
        for round in range(rounds):
            _, report, seconds = self.matrix_through_service(f"// round {round} {time.time_ns()}\n")
            service.append(seconds)
            source = self.MATRIX_SOURCE + f"// raw round {round} {time.time_ns()}\n"
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(max_workers=self.max_workers) as pool:
                list(pool.map(lambda command: self.raw_compile(command, source, must_compile=False), commands))
            raw.append(time.perf_counter() - started)
        self.results["matrix"] = {"cells": len(cells), "compiled": report["summary"]["compiled"], "rounds": rounds,
                                  "service_seconds": statistics.median(service), "xargs_p_seconds": statistics.median(raw),
                                  "throughput_ratio": statistics.median(raw) / statistics.median(service)}

    def matrix_through_service(self, nonce):
        """Submits the matrix (cache bypassed) and reads it until every cell is finished: the
        accepted answer, the finished matrix, and the seconds from submission to that."""
        connection = Connection(self.port)
        started = time.perf_counter()
        status, _, data, _ = connection.request("POST", "/api/v1/matrix", json.dumps(
            {"source_code": self.MATRIX_SOURCE + nonce, "language": "cpp", "environments": "all", "cache": False}))
        accepted = json.loads(data)
        if status != 202:
            raise RuntimeError(f"the matrix was not accepted: {status} {accepted}")
        while True:
            _, _, data, _ = connection.request("GET", f"/api/v1/matrix/{accepted['matrix_id']}?wait=30")
            report = json.loads(data)
            if report["status"] == "completed":
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        if any(cell["status"] not in ("completed", "failed") for cell in report["cells"]):
            raise RuntimeError(f"a matrix cell ended otherwise than completed or failed: {report['summary']['failures']}")
        return accepted, report, seconds

    # 7. Memory
    def pid(self, name):
        # scripts/run writes "PID START-TIME" (see record_pid in scripts/lib.sh).
        with open(os.path.join(self.run_dir, "pids", name)) as f:
            return int(f.read().split()[0])

    def memory(self, label):
        responders = [rss_kib(p) / 1024 for p in children(self.pid("responders"))]
        self.results.setdefault("memory_mb", {})[label] = {"responders": responders, "worker": rss_kib(self.pid("worker")) / 1024}

    # What docs/PERFORMANCE.md measured before issue 15 ("What the cluster queue costs" for the
    # compile overhead, "Current figures" for saturation): issue 15 must be no worse.
    PREVIOUS_OVERHEAD_MS = {"c": 12.1, "cpp": 14.2}
    PREVIOUS_SATURATION = 0.94

    def targets(self):
        """Every figure with a target that this run measured: (figure, value, target, met)."""
        r, rows = self.results, []
        if "read_path" in r:
            rp = r["read_path"]
            rows += [("read path req/s, x the C reference", f"{rp['rps_ours_over_c']:.2f}x", ">= 0.95x", rp["rps_ours_over_c"] >= 0.95),
                     ("responder CPU per read, x the C reference", f"{rp['cpu_ours_over_c']:.2f}x", "<= 1.15x", rp["cpu_ours_over_c"] <= 1.15),
                     ("read path p99, x the C reference", f"{rp['p99_ours_over_c']:.2f}x", "<= 1.5x", rp["p99_ours_over_c"] <= 1.5)]
        if "submit_path" in r:
            sp = r["submit_path"]
            rows.append(("submit p50 at 20/s, x the C reference's write", f"{sp['p50_ours_over_c']:.2f}x", "<= 1.25x", sp["p50_ours_over_c"] <= 1.25))
        for name, limit in [("c_hello", 1.25), ("cpp_hello", 1.10)]:
            if name in r.get("direct", {}):
                v = r["direct"][name]
                rows.append((f"{name.replace('_', ' ')} end to end, x {os.path.basename(v['compiler'])} direct", f"{v['ratio']:.2f}x",
                             f"<= {limit:.2f}x", v["ratio"] <= limit))
        for language, v in r.get("compile_overhead", {}).items():
            before = self.PREVIOUS_OVERHEAD_MS[language]
            rows.append((f"compile overhead {language}, service - sandbox command", f"{v['overhead_ms']:+.1f} ms",
                         f"<= {before:+.1f} ms (before issue 15)", v["overhead_ms"] <= before))
        if "saturation" in r:
            ratio = r["saturation"]["throughput_ratio"]
            rows.append(("saturation throughput, x the sandboxed compiles", f"{ratio:.2f}", f">= {self.PREVIOUS_SATURATION} (before issue 15)",
                         ratio >= self.PREVIOUS_SATURATION))
        if "cache_hit" in r:
            ratio = r["cache_hit"]["p50_hit_over_read"]
            rows.append(("cache hit p50, x a status read's (issue 13)", f"{ratio:.2f}x", "<= 2x", ratio <= 2))
        if "matrix" in r:
            ratio = r["matrix"]["throughput_ratio"]
            rows.append(("matrix throughput, x the sandboxed compiles (issue 13)", f"{ratio:.2f}", ">= 0.9", ratio >= 0.9))
        memory = r.get("memory_mb", {})
        if memory:
            responder = max((x for m in memory.values() for x in m["responders"]), default=0)
            worker = max(m["worker"] for m in memory.values())
            rows += [("responder RSS, largest seen", f"{responder:.1f} MB", "<= 20 MB", responder <= 20),
                     ("worker RSS, largest seen", f"{worker:.1f} MB", "<= 50 MB", worker <= 50)]
        return rows

    def report(self):
        r = self.results
        lines = ["", "will-it-compile benchmark" + (" (--quick)" if self.quick else ""), ""]
        if "read_path" in r:
            rp = r["read_path"]
            lines.append("1. read path  GET /api/v1/compile/{id}      req/s      p50 ms   p99 ms  responder CPU us/req")
            for name in ["ours", "c_reference", "static_file"]:
                v = rp[name]
                lines.append(f"   {name:<40} {v['requests_per_second']:>9.0f} {v['p50_ms']:>9.2f} {v['p99_ms']:>8.2f} {v['responder_cpu_us_per_request']:>9.1f}")
            lines.append(f"   ours/C: req/s {rp['rps_ours_over_c']:.2f}x, p99 {rp['p99_ours_over_c']:.2f}x, responder CPU {rp['cpu_ours_over_c']:.2f}x; ours/static: {rp['rps_ours_over_static']:.2f}x")
        if "submit_path" in r:
            sp = r["submit_path"]
            lines.append(f"2. submit path at {sp['rate_per_second']}/s: ours p50 {sp['ours']['p50_ms']:.2f} ms p99 {sp['ours']['p99_ms']:.2f} ms "
                         f"C reference p50 {sp['c_reference']['p50_ms']:.2f} ms p99 {sp['c_reference']['p99_ms']:.2f} ms")
        for language, v in r.get("compile_overhead", {}).items():
            lines.append(f"3. compile overhead {language:<4} service median {v['service_median_ms']:.1f} ms (p90 {v['service_p90_ms']:.1f}), "
                         f"raw sandbox {v['raw_median_ms']:.1f} ms (p90 {v['raw_p90_ms']:.1f}): ratio {v['ratio']:.2f}, {v['overhead_ms']:+.1f} ms")
        if "cache_hit" in r:
            c = r["cache_hit"]
            lines.append(f"4. cache hit, submit with wait: p50 {c['hit_p50_ms']:.2f} ms p99 {c['hit_p99_ms']:.2f} ms; status read p50 {c['read_p50_ms']:.2f} ms "
                         f"p99 {c['read_p99_ms']:.2f} ms: p50 ratio {c['p50_hit_over_read']:.2f}")
        if "saturation" in r:
            s = r["saturation"]
            lines.append(f"5. saturation {s['jobs']} jobs: service {s['service_seconds']:.2f} s, xargs -P {self.max_workers} {s['xargs_p_seconds']:.2f} s: "
                         f"throughput ratio {s['throughput_ratio']:.2f}")
        if "matrix" in r:
            m = r["matrix"]
            lines.append(f"6. matrix, all C++ toolchains x standards ({m['cells']} cells, {m['compiled']} compiled), median of {m['rounds']}: service {m['service_seconds']:.2f} s, "
                         f"xargs -P {self.max_workers} {m['xargs_p_seconds']:.2f} s: throughput ratio {m['throughput_ratio']:.2f}")
        for name, v in r.get("direct", {}).items():
            lines.append(f"3b. against the compiler itself, {name} ({v['compiler']}, {v['standard']}), median of {v['runs']}: service {v['service_median_ms']:.1f} ms "
                         f"(p90 {v['service_p90_ms']:.1f}), direct {v['direct_median_ms']:.1f} ms (p90 {v['direct_p90_ms']:.1f}): ratio {v['ratio']:.2f}")
        for label, m in r.get("memory_mb", {}).items():
            lines.append(f"7. memory {label}: responders {', '.join(f'{x:.1f}' for x in m['responders'])} MB, worker {m['worker']:.1f} MB")
        lines += ["", "targets (issues 13 and 15)"] + [
            f"   {name:<52} {value:<22} {target:<42} {'met' if met else 'NOT MET'}" for name, value, target, met in self.targets()]
        print("\n".join(lines))
        os.makedirs(os.path.join(REPO, "bench"), exist_ok=True)
        with open(os.path.join(REPO, "bench", "results.json"), "w") as out:
            json.dump(r, out, indent=2)
        print(f"\nwrote bench/results.json")


SECTIONS = ["read-path", "submit-path", "compile-overhead", "direct", "cache-hit", "saturation", "matrix"]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs, under 2 minutes")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS, metavar="SECTION",
                        help=f"run only these sections: {', '.join(SECTIONS)}")
    arguments = parser.parse_args()
    bench = Bench(arguments.quick)
    shutil.rmtree(bench.run_dir, ignore_errors=True)
    bench.start()
    try:
        bench.memory("idle")
        for section in arguments.only:
            getattr(bench, section.replace("-", "_"))()
        bench.memory("after the runs")
    finally:
        bench.stop_direct_runner()
        bench.stop()
    bench.report()


if __name__ == "__main__":
    sys.exit(main())
