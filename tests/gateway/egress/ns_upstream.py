"""A recording HTTPS + HTTP upstream, run as a script inside a test's network namespace.

    python ns_upstream.py --address 10.215.1.1 --cert CHAIN --key KEY --record FILE

It serves HTTPS on 443 and plain HTTP on 80 at `--address` and appends one JSON line per
request to `--record` (scheme, SNI it was reached by, method, path, Host header, body),
flushed before it answers, so that a client that got its answer can read the record. It
prints `listening` once both sockets accept. Standard library only: the namespace
process runs it by path, without the repository on its import path.
"""

from __future__ import annotations

import argparse
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO


def _handler(record: IO[str], lock: threading.Lock, scheme: str
             ) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _record(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            entry = {"scheme": scheme, "sni": getattr(self.connection, "zonegate_sni", None),
                     "method": self.command, "path": self.path,
                     "host": self.headers.get("host"), "body": body.decode("utf-8", "replace")}
            with lock:
                record.write(json.dumps(entry) + "\n")
                record.flush()
            reply = json.dumps({"ok": True, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = _record

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _remember_sni(sock: ssl.SSLSocket | ssl.SSLObject, name: str | None,
                  _ctx: ssl.SSLContext) -> None:
    sock.zonegate_sni = name  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--record", required=True)
    args = parser.parse_args()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(args.cert, args.key)
    tls.sni_callback = _remember_sni
    lock = threading.Lock()
    with open(args.record, "a", encoding="utf-8") as record:
        servers = []
        for scheme, port in (("https", 443), ("http", 80)):
            server = ThreadingHTTPServer((args.address, port), _handler(record, lock, scheme))
            server.daemon_threads = True
            if scheme == "https":
                server.socket = tls.wrap_socket(server.socket, server_side=True)
            servers.append(server)
        for server in servers[1:]:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        print("listening", flush=True)
        servers[0].serve_forever()


if __name__ == "__main__":
    main()
