"""A TCP proxy in front of a real server that rewrites what the server answers.

A fault proxy in the manner of toxiproxy (which is not packaged here):
each complete line the server sends (literals included, they end in CRLF too) goes
through ``rewrite`` before it reaches the client, so a test can corrupt the answer
about one message and leave every other byte as the server wrote it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

Rewrite = Callable[[bytes], bytes]


class RewritingProxy:
    """Listen on a loopback port; forward to ``host:port``, server lines through ``rewrite``."""

    def __init__(self, host: str, port: int, rewrite: Rewrite) -> None:
        self.target = (host, port)
        self.rewrite = rewrite
        self.host = "127.0.0.1"
        self._listener = socket.create_server((self.host, 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def __enter__(self) -> RewritingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self._sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, self.rewrite),
                             daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, rewrite: Rewrite | None) -> None:
        pending = b""
        try:
            while chunk := source.recv(65536):
                if rewrite is None:
                    sink.sendall(chunk)
                    continue
                pending += chunk
                complete, sep, pending = pending.rpartition(b"\r\n")
                if sep:
                    sink.sendall(b"".join(rewrite(line + b"\r\n")
                                          for line in complete.split(b"\r\n")))
            sink.sendall(pending)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass
