"""The practice community as the app uses it: start/stop the server, publish it as a trust community,
issue a profile's certificate from its CSR.

The community is written to the catalog (name ``practice``) while the server runs, so a second
CLI process with the same data folder (``sandbox serve`` in one terminal, ``discover`` in
another) finds its anchor, TLS anchor and current base URL.
"""

from __future__ import annotations

import threading
from typing import Iterable

from app.core.community import TrustCommunity

NAME = "practice"
LABEL = "Practice community (this computer)"


class PracticeCommunity:
    def __init__(self, session) -> None:
        self.session = session
        self.server = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.server is not None and self.server.running

    def start(self, modes: Iterable[str] | None = None, port: int | None = None) -> dict:
        """Start (or restart with other modes) and register the community; returns its description.

        ``modes=None`` means "whatever runs now": a step that only needs the server up (CRLs, issuing)
        must not restart a server the user started in a rehearsal mode.
        """
        from app.sandbox.server import PracticeServer

        with self._lock:
            if modes is None and self.running and port is None:
                return self.describe()
            modes = frozenset(modes or ())
            if self.running and self.server.modes == modes and (port is None or self.server.endpoints.base_url.endswith(f":{port}/fhir")):
                return self.describe()
            if self.server is not None:
                self.server.stop()
            self.server = PracticeServer(self.session.home, self.session.secrets, port=port, modes=modes,
                                         clock=self.session.clock).start()
            info = self.server.describe()
            self.session.communities.add(community_from(info), replace=True)
            return info

    def describe(self) -> dict:
        return self.server.describe()

    def community(self) -> TrustCommunity:
        return self.session.communities.get(NAME)

    def stop(self) -> None:
        with self._lock:
            if self.server is not None:
                self.server.stop()
                self.server = None

    def ca(self):
        from app.core.storage import data_home
        from app.sandbox.ca import PracticeCA

        if self.server is not None and self.server.ca is not None:
            return self.server.ca
        return PracticeCA.open(data_home(self.session.home) / "sandbox", self.session.secrets, now=self.session.now())


def community_from(info: dict) -> TrustCommunity:
    return TrustCommunity(name=NAME, uri=info["community_uri"], anchors=[info["anchor_pem"]],
                          tls_anchors=[info["tls_anchor_pem"]], servers=[info["base_url"]],
                          revocation=info.get("revocation", "hard"), extra={"label": LABEL}).validated()
