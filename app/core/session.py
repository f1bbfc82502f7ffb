"""The services one run of the app works with, built once by the composition root.

The CLI and the wizard both hold one Session and pass it to the step functions in
``app/core/onboarding.py``: data folder, profile and community stores, the secret store
(opened lazily: a keyring prompt must not delay start-up), the audit trail, the clock.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from app.core.community import CommunityCatalog, TrustCommunity
from app.core.evidence import AuditTrail
from app.core.profile import ProfileStore
from app.core.secrets import SecretStore, open_secret_store
from app.core.storage import data_home
from app.core.trust import CrlCache


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Session:
    def __init__(self, home: str | Path | None = None, *, secrets: SecretStore | None = None,
                 ask_passphrase: Callable[[str], str] | None = None,
                 clock: Callable[[], datetime] | None = None, allow_insecure_loopback: bool = False,
                 transport=None) -> None:
        self.home = data_home(home)
        self.profiles = ProfileStore(self.home)
        self.communities = CommunityCatalog(self.home)
        self.audit = AuditTrail()
        self.clock = clock or _utcnow
        self.allow_insecure_loopback = allow_insecure_loopback
        self.transport = transport  # httpx.MockTransport in unit tests only
        self.crl_cache = CrlCache()
        self.key_cache: dict[str, tuple] = {}  # decrypted keys, memory only, for this run
        self.ssl_cache: dict[tuple, object] = {}  # TLS contexts by anchors: the system store loads in ~50 ms
        self.http_clients = None  # an app.core.http.ClientPool once a request is made (httpx loads late)
        self._secrets = secrets
        self._ask_passphrase = ask_passphrase
        self._lock = threading.Lock()
        self._practice = None
        # Results kept for the evidence bundle; tokens are never kept here.
        self.discovery_reports: list = []
        self.discovered: dict[tuple, tuple] = {}  # passed discoveries by (server, community, anchors), reused briefly
        self.registration_results: list = []
        self.token_results: list = []

    def now(self) -> datetime:
        return self.clock()

    @property
    def secrets(self) -> SecretStore:
        """The OS keyring when a secure one exists, else the user's passphrase; opened on first use."""
        with self._lock:
            if self._secrets is None:
                self._secrets = open_secret_store(self._ask_passphrase)
            return self._secrets

    def http_policy(self, community: TrustCommunity | None = None, step: str | None = None):
        from app.core.http import ClientPool, HttpPolicy

        with self._lock:
            if self.http_clients is None:
                self.http_clients = ClientPool()
        return HttpPolicy(tls_anchors_pem=tuple(community.tls_anchors) if community else (),
                          allow_insecure_loopback=self.allow_insecure_loopback, audit=self.audit,
                          clock=self.clock, transport=self.transport, ssl_cache=self.ssl_cache,
                          clients=self.http_clients)

    @property
    def practice(self):
        """The practice community (local CA + UDAP server); created on first use, started on demand."""
        with self._lock:
            if self._practice is None:
                from app.sandbox.practice import PracticeCommunity

                self._practice = PracticeCommunity(self)
            return self._practice

    def close(self) -> None:
        if self.http_clients is not None:
            self.http_clients.close()
        if self._practice is not None:
            self._practice.stop()
