"""Several practice servers on one data folder in one process: they share the CA and its http port.

Before shared_ca.py the second server failed with http_port_in_use, so "register with several
practice servers at once" (and its benchmark) could not run.
"""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from app.core import onboarding
from app.core.community import TrustCommunity
from app.core.errors import SandboxError
from app.core.secrets import MemorySecretStore
from app.core.session import Session
from app.sandbox import shared_ca
from app.sandbox.server import PracticeServer

COMMUNITY = "practice-many"


def _community(servers: list[PracticeServer]) -> TrustCommunity:
    info = servers[0].describe()
    return TrustCommunity(name=COMMUNITY, uri=info["community_uri"], anchors=[info["anchor_pem"]],
                          tls_anchors=[info["tls_anchor_pem"]], servers=[s.base_url for s in servers],
                          revocation="hard").validated()


def test_servers_of_one_folder_share_the_ca_and_its_http_port(tmp_path):
    store = MemorySecretStore()
    servers = [PracticeServer(tmp_path, store).start() for _ in range(3)]
    try:
        folder = servers[0].ca.folder
        assert shared_ca.users(folder) == 3
        assert len({s.http_base for s in servers}) == 1
        assert len({s.base_url for s in servers}) == 3
        assert all(s.ca is servers[0].ca for s in servers)
        crl_url = servers[0].ca.crl_url("intermediate")
        servers[0].stop()  # the first one leaves: the CA's http side stays up for the others
        assert httpx.get(crl_url, timeout=5).status_code == 200
        assert shared_ca.users(folder) == 2
    finally:
        for s in servers:
            s.stop()
    assert shared_ca.users(folder) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(crl_url, timeout=2)


def test_register_with_several_servers_at_once_and_use_a_token_at_one(tmp_path):
    store = MemorySecretStore()
    servers = [PracticeServer(tmp_path, store).start() for _ in range(3)]
    session = Session(tmp_path, secrets=store)
    try:
        session.communities.add(_community(servers), replace=True)
        profile, _ = onboarding.create_profile(
            session, "many", org_name="Many Servers Clinic", client_name="Many", community=COMMUNITY,
            client_uri="https://many.example.org/udap", contact="it@many.example.org")
        onboarding.generate_key(session, profile, "ec-p256")
        onboarding.create_csr(session, profile)
        ca = servers[0].ca
        leaf = ca.issue_from_csr(profile.csr_pem.encode("ascii"))
        check = onboarding.import_certificate(session, profile, [onboarding._pem(c).encode("ascii")
                                                                 for c in (leaf, ca.intermediate_cert)],
                                              community=COMMUNITY)
        assert check.saved, check.to_dict()
        rows = onboarding.register(session, profile, [s.base_url for s in servers], COMMUNITY)
        assert [r.outcome for r in rows] == ["registered"] * 3, [r.to_dict() for r in rows]
        assert len({r.client_id for r in rows}) == 3  # each server is its own registrar
        test = onboarding.request_token(session, profile, servers[2].base_url, fhir_path="Patient")
        assert test.fhir.status == 200
        # Only the folder's first server writes registrations.json: the others cannot overwrite it.
        saved = json.loads((ca.folder / "registrations.json").read_text())
        assert [r["client_id"] for r in saved] == [rows[0].client_id]
        assert ca.https_port == int(servers[0].base_url.split(":")[2].split("/")[0])
    finally:
        session.close()
        for s in servers:
            s.stop()


def test_another_program_on_the_ca_http_port_is_still_reported(tmp_path):
    store = MemorySecretStore()
    with PracticeServer(tmp_path, store) as first:
        port, folder = first.ca.http_port, first.ca.folder
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        with pytest.raises(SandboxError) as info:
            PracticeServer(tmp_path, store).start()
        assert info.value.code == "http_port_in_use" and info.value.fields["port"] == port
        assert shared_ca.users(folder) == 0  # nothing half-started is left behind
    with PracticeServer(tmp_path, store) as again:
        assert again.http_base == f"http://127.0.0.1:{port}"
