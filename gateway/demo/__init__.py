"""`zonegate demo`: the whole system on loopback, and the unattended tour (`--smoke`).

The pieces, each small and replaceable:

- `credentials`: a fresh CA and the certificates of the tour (pki/);
- `records`, `upstreams`: the sample data zones (health L4, transport L2, citizen L5,
  open L1) served by in-process aiohttp apps;
- `files`: the configuration files the real commands read (gateway.yaml, monitor.yaml);
- `children`: `zonegate serve` and `zonegate monitor run` as child processes;
- `deployment`: starts everything in order, with readiness checks, and stops it;
- `tour`: the steps of the tour, each one request and one expectation;
- `guide`: what the interactive demo prints (URLs, users, curl commands).

`make_capture` rebuilds the shipped capture `data/edge.pcap` (a script, not imported).
"""

from __future__ import annotations

from gateway.demo.errors import DemoError, PortInUse, StartupFailed, StateDirError

__all__ = ["DemoError", "PortInUse", "StartupFailed", "StateDirError"]
