"""TLS with client-certificate verification from three files (cert, key, client CA), re-read when
they change: grpcio's dynamic server credentials ask a fetcher before each handshake, and the
fetcher returns a new configuration only when a file's mtime or size moved (open connections keep
the one they started with)."""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Optional, Tuple

import grpc

log = logging.getLogger("smtpbridge.worker")


@dataclass(frozen=True)
class TlsFiles:
    cert: str        # PEM certificate chain the worker presents
    key: str         # its PEM private key
    client_ca: str   # PEM CA bundle client certificates must chain to; clients without one are refused


class _Reloader:
    def __init__(self, files: TlsFiles) -> None:
        self._files = files
        self._lock = threading.Lock()
        self._stamp = self._stat()

    def _stat(self) -> Tuple:
        return tuple((s.st_mtime_ns, s.st_size) for s in
                     (os.stat(p) for p in (self._files.cert, self._files.key, self._files.client_ca)))

    def config(self) -> grpc.ServerCertificateConfiguration:
        def read(path: str) -> bytes:
            with open(path, "rb") as f:
                return f.read()
        return grpc.ssl_server_certificate_configuration(
            [(read(self._files.key), read(self._files.cert))], root_certificates=read(self._files.client_ca))

    def fetch(self) -> Optional[grpc.ServerCertificateConfiguration]:
        """Called by grpcio before handshakes: None keeps the current configuration."""
        with self._lock:
            try:
                stamp = self._stat()
                if stamp == self._stamp:
                    return None
                config = self.config()
            except OSError as err:  # mid-rotation (a file missing): keep serving the old ones
                log.warning("TLS files not reloaded: %s", err)
                return None
            self._stamp = stamp
            log.info("TLS certificate files changed: reloaded")
            return config


def tls_server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """Server credentials for Worker(tls=...): mutual TLS, files re-read when they change."""
    reloader = _Reloader(files)
    # grpcio documents None from the fetcher as "keep the current configuration"; its stubs do not.
    return grpc.dynamic_ssl_server_credentials(reloader.config(), reloader.fetch,  # type: ignore[arg-type]
                                               require_client_authentication=True)
