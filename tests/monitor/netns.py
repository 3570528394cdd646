"""Two network namespaces joined by a veth pair, for real-traffic tests.

The addresses (10.213.0.0/24) exist only inside the namespaces the test creates; everything
is deleted on exit, whatever happened.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

CLIENT_IP = "10.213.0.2"
SERVER_IP = "10.213.0.1"
EXTRA_HOSTS = [f"10.213.0.{i}" for i in range(100, 130)]


@dataclass
class NetnsPair:
    client: str
    server: str
    client_if: str
    server_if: str

    def run(self, ns: str, argv: Sequence[str], timeout: float = 60,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True,
                              text=True, timeout=timeout, check=check)

    def spawn(self, ns: str, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[str]:
        return subprocess.Popen(["ip", "netns", "exec", ns, *argv], text=True,
                                start_new_session=True, **kwargs)  # type: ignore[call-overload]


def netns_usable() -> str | None:
    """None if `ip netns` works here, else the reason it does not."""
    if os.geteuid() != 0:
        return "needs root for ip netns"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    probe = f"zgm-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@contextmanager
def netns_pair(extra_server_ips: Sequence[str] = ()) -> Iterator[NetnsPair]:
    tag = f"{os.getpid() % 100000}"
    pair = NetnsPair(f"zgm-c-{tag}", f"zgm-s-{tag}", f"zgmc{tag}", f"zgms{tag}")
    try:
        for ns in (pair.client, pair.server):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                            "net.ipv6.conf.all.disable_ipv6=1"], check=True, capture_output=True)
        _ip("link", "add", pair.client_if, "netns", pair.client, "type", "veth",
            "peer", "name", pair.server_if, "netns", pair.server)
        _ip("-n", pair.client, "addr", "add", f"{CLIENT_IP}/24", "dev", pair.client_if)
        _ip("-n", pair.server, "addr", "add", f"{SERVER_IP}/24", "dev", pair.server_if)
        for extra in extra_server_ips:
            _ip("-n", pair.server, "addr", "add", f"{extra}/32", "dev", pair.server_if)
        _ip("-n", pair.client, "link", "set", pair.client_if, "up")
        _ip("-n", pair.server, "link", "set", pair.server_if, "up")
        yield pair
    finally:
        for ns in (pair.client, pair.server):
            _kill_namespace_processes(ns)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _kill_namespace_processes(ns: str) -> None:
    found = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    for pid in found.stdout.split():
        with suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def poll(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Wait until `condition()` holds, checking every 50 ms; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def port_listening(pair: NetnsPair, ns: str, port: int) -> Callable[[], bool]:
    def check() -> bool:
        out = pair.run(ns, ["ss", "-ltnH", f"sport = :{port}"], check=False).stdout
        return bool(out.strip())
    return check


def file_has(path: Path, needle: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return needle in path.read_text()
        except FileNotFoundError:
            return False
    return check
