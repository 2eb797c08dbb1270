"""Run every service, the gateway and ws as separate processes, the way `make run` does.

`python -m scripts.stack` runs in the foreground, prefixes each process's output with its name,
and stops everything on Ctrl-C. The e2e tests and benchmarks use the same `Stack` class.
"""

import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from nameko.standalone.rpc import ClusterRpcProxy

from kernel.config import PROJECT_ROOT, load_config
from scripts.processes import PROCESSES, ProcessSpec

# Readiness polls publish to queues that do not exist yet; amqp warns about each returned message.
logging.getLogger("amqp").setLevel(logging.ERROR)

NAMEKO = [sys.executable, "-m", "nameko", "run", "--config", str(PROJECT_ROOT / "config.yml")]


# Children get SIGTERM when the runner dies, even by SIGKILL, so a killed test run or `make run`
# never leaves services behind consuming from RabbitMQ (util-linux's setpriv sets the
# parent-death signal and execs; a Python preexec_fn would fork an eventlet-patched process).
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "TERM", "--"]


@dataclass
class Process:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    rpc_service: str | None = None  # answers n.rpc.<rpc_service>.health() when ready
    http_health: str | None = None  # or: this URL answers 200 when ready


def ws_process(name: str, port: int, metrics_port: int) -> Process:
    """A chat hub; ready when its /healthz answers."""
    return Process(
        name,
        [sys.executable, "-m", "ws.server"],
        env={"WS_ADDRESS": f"127.0.0.1:{port}", "METRICS_PORT": str(metrics_port)},
        http_health=f"http://127.0.0.1:{port}/healthz",
    )


def default_processes(
    gateway_port: int = 8000,
    metrics_base: int = 9100,
    ws_port: int | None = None,
    scale: int = 1,
) -> list[Process]:
    """The processes of deploy/processes.yml. `ws_port` None picks a free port (callers other than
    `make run` must not take 8001). Metrics ports are metrics_base + the table's offset (9101 ->
    base + 1). `scale` > 1 (make run SCALE=N) adds replicas of every kind the table lets run
    N times on one box, with free ports; replica i is named `<name>-<i>`."""
    if ws_port is None:
        ws_port = free_port()
    processes = []
    for spec in PROCESSES:
        replicas = min(scale, spec.scaling.local or scale)
        if spec.name == "messaging" and mongo_is_a_server():
            replicas = scale  # the embedded store is one process's directory; MongoDB isn't
        for index in range(replicas):
            name = spec.job_name if index == 0 else f"{spec.job_name}-{index + 1}"
            processes.append(local_process(spec, name, index, gateway_port, metrics_base, ws_port))
    return processes


def local_process(
    spec: ProcessSpec, name: str, index: int, gateway_port: int, metrics_base: int, ws_port: int
) -> Process:
    metrics_port = metrics_base + spec.metrics_port % 100 if spec.metrics_port else 0
    if index:  # replicas: free ports of their own
        metrics_port = free_port() if spec.metrics_port else 0
    if spec.name == "ws":
        return ws_process(name, ws_port if index == 0 else free_port(), metrics_port)
    command = [*NAMEKO, spec.target]
    if spec.name == "gateway-http":
        port = gateway_port if index == 0 else free_port()
        return Process(
            name,
            command,
            env={"GATEWAY_ADDRESS": f"127.0.0.1:{port}"},
            http_health=f"http://127.0.0.1:{port}/healthz",
        )
    # Ready when this very process consumes (its health port), not when any replica answers.
    health_port = free_port()
    return Process(
        name,
        command,
        env={"METRICS_PORT": str(metrics_port), "HEALTH_PORT": str(health_port)},
        rpc_service=spec.rpc_service,
        http_health=f"http://127.0.0.1:{health_port}/readyz",
    )


def mongo_is_a_server() -> bool:
    url = os.environ.get("MONGO_URL") or str(load_config()["MONGO_URL"])
    return url.startswith(("mongodb://", "mongodb+srv://"))


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def listening_ports() -> range:
    """Ports a local stack listens on: below the kernel's ephemeral range. A port the kernel
    picked (bind to 0) is an ephemeral one, and between picking it and the process binding it,
    any outgoing connection on the machine could take it as its local port ("Address already
    in use" at a service's start, seen in CI)."""
    try:
        first_ephemeral = int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 32768  # Linux's default
    return range(10000, max(first_ephemeral, 10100))


def free_port(block: int = 1) -> int:
    """The first of `block` consecutive free ports in listening_ports(), none handed out before
    by this process (two stacks' ports are picked before either binds them)."""
    chooser = random.SystemRandom()
    candidates = listening_ports()
    for _ in range(500):
        first = chooser.randrange(candidates.start, candidates.stop - block)
        ports = range(first, first + block)
        if not _handed_out.intersection(ports) and all(port_is_free(port) for port in ports):
            _handed_out.update(ports)
            return first
    raise RuntimeError(f"no {block} free consecutive ports in {candidates}")


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Stack:
    def __init__(
        self, processes: list[Process], env: dict[str, str] | None = None, echo: bool = True
    ) -> None:
        self.processes = processes
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.echo = echo
        self.running: dict[str, subprocess.Popen[str]] = {}
        self.output: dict[str, list[str]] = {}

    def start(self) -> None:
        for process in self.processes:
            self.start_one(process)

    def start_one(self, process: Process) -> None:
        child = subprocess.Popen(
            [*DIE_WITH_PARENT, *process.command],
            cwd=PROJECT_ROOT,
            env={**self.env, **process.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.running[process.name] = child
        self.output[process.name] = []
        threading.Thread(target=self._pump, args=(process.name, child), daemon=True).start()

    def _pump(self, name: str, child: subprocess.Popen[str]) -> None:
        assert child.stdout is not None
        for line in child.stdout:
            self.output[name].append(line)
            if self.echo:
                sys.stdout.write(f"[{name:>12}] {line}")
                sys.stdout.flush()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(self.processes)
        config = {**load_config(), "AMQP_URI": self.env.get("AMQP_URI", load_config()["AMQP_URI"])}
        while pending:
            process = pending[0]
            child = self.running[process.name]
            if child.poll() is not None:
                tail = "".join(self.output[process.name][-30:])
                raise RuntimeError(f"{process.name} exited with {child.returncode}:\n{tail}")
            if self._is_ready(process, config):
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"{process.name} not ready after {timeout}s")
            time.sleep(0.2)

    @staticmethod
    def _is_ready(process: Process, config: dict[str, object]) -> bool:
        try:
            if process.http_health:
                return requests.get(process.http_health, timeout=1).status_code == 200
            if process.rpc_service:
                with ClusterRpcProxy(config, timeout=2) as cluster:
                    getattr(cluster, process.rpc_service).health()
                return True
        except Exception:
            return False
        return True

    def tail(self, lines: int = 20) -> str:
        """The last lines each process wrote, for error reports."""
        return "".join(
            f"--- last output of {name} ---\n{''.join(output[-lines:])}"
            for name, output in self.output.items()
        )

    def stop_one(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        child = self.running.pop(name, None)
        if child is None or child.poll() is not None:
            return
        os.killpg(child.pid, sig)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every process at once, then wait; SIGKILL whatever outlives `timeout`."""
        children = [c for c in self.running.values() if c.poll() is None]
        for child in children:
            os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        self.running.clear()


def main() -> None:
    config = load_config()
    gateway_port = int(config["WEB_SERVER_ADDRESS"].rsplit(":", 1)[1])
    ws_port = int(config["WS"]["ADDRESS"].rsplit(":", 1)[1])
    metrics_base = int(os.environ.get("METRICS_BASE_PORT", "9100"))
    scale = int(os.environ.get("SCALE", "1"))
    stack = Stack(default_processes(gateway_port, metrics_base, ws_port, scale))
    # Explicit handlers: a shell may start us with SIGINT ignored (e.g. as a background job).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        stack.start()
        stack.wait_ready()
        base = f"http://127.0.0.1:{gateway_port}"
        print(
            "\n  stack is up (Ctrl-C stops everything)\n"
            f"  REST API      {base}/api/v1   (OpenAPI: {base}/api/v1/openapi.json)\n"
            f"  API docs      {base}/api/v1/docs  (Swagger UI)\n"
            f"  health        {base}/healthz  {base}/readyz\n"
            f"  chat          ws://127.0.0.1:{ws_port}/ws  (?jwt=<access token>)\n"
            f"  metrics       {base}/metrics  auth: http://127.0.0.1:{metrics_base + 1}/metrics"
            f"  ws: http://127.0.0.1:{metrics_base + 7}/metrics\n"
            "  nameko shell  make shell  (then n.rpc.auth.health())\n",
            flush=True,
        )
        while all(child.poll() is None for child in stack.running.values()):
            time.sleep(0.5)
        crashed = [name for name, child in stack.running.items() if child.poll() is not None]
        print(f"process exited: {', '.join(crashed)}; stopping the stack", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
