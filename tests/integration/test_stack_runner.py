"""The process runner behind `make run` and the e2e tests leaves nothing behind."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import wait_until

RUNNER = """
import sys, time
from scripts.stack import Process, Stack
stack = Stack([Process("sleeper", [sys.executable, "-c", "import time; time.sleep(120)"])],
              echo=False)
stack.start()
print(stack.running["sleeper"].pid, flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_children_die_when_the_runner_is_killed():
    runner = subprocess.Popen([sys.executable, "-c", RUNNER], stdout=subprocess.PIPE, text=True)
    try:
        child = int(runner.stdout.readline())
        assert alive(child)
        # setpriv sets the parent-death signal and then execs the command: a runner killed before
        # that (a busy machine) would leave a child nobody told. The runner lives longer than that.
        wait_until(lambda: b"setpriv" not in Path(f"/proc/{child}/cmdline").read_bytes())
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
        wait_until(lambda: not alive(child), timeout=20)
    finally:
        runner.kill()
        runner.stdout.close()
