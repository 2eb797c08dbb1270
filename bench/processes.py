"""The stack for benchmarks: scripts.stack.Stack with each process's output written straight to a
file (as a log shipper reads it in production) instead of a pipe pumped by a Python thread of the
bench process, which under load fills and blocks the processes' logging, measuring the bench
harness instead of the code."""

import shutil
import subprocess
import tempfile
from pathlib import Path

from kernel.config import PROJECT_ROOT
from scripts.stack import DIE_WITH_PARENT, NAMEKO, Process, Stack


class FileLoggedStack(Stack):
    def __init__(
        self, processes: list[Process], env: dict[str, str] | None = None, echo: bool = False
    ) -> None:
        super().__init__(processes, env=env, echo=echo)
        self.log_dir = Path(tempfile.mkdtemp(prefix="bench-logs-"))

    def start_one(self, process: Process) -> None:
        log_path = self.log_dir / f"{process.name}.log"
        with log_path.open("w") as log:
            child = subprocess.Popen(
                [*DIE_WITH_PARENT, *process.command],
                cwd=PROJECT_ROOT,
                env={**self.env, **process.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        self.running[process.name] = child
        self.output[process.name] = []

    def tail(self, lines: int = 20) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- last output of {path.stem} ---\n" + "\n".join(text) + "\n")
        return "".join(parts)

    def stop(self, timeout: float = 15.0) -> None:
        super().stop(timeout)
        shutil.rmtree(self.log_dir, ignore_errors=True)


def floor_process(name: str, service: str, port: int) -> Process:
    """A Nameko floor service (`module:Class`) serving HTTP on `port`, ready on /healthz."""
    return Process(
        name,
        [*NAMEKO, service],
        env={"GATEWAY_ADDRESS": f"127.0.0.1:{port}"},
        http_health=f"http://127.0.0.1:{port}/healthz",
    )
