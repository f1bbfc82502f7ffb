import pytest

from app.core.secrets import MemorySecretStore
from app.sandbox.ca import PracticeCA
from tests.pki import NOW, cached_key
from tests.sandbox.craft import CLIENT_URI, make_csr


@pytest.fixture(scope="session")
def practice_ca(tmp_path_factory):
    """One practice CA for the rules/CA tests, created at tests.pki.NOW (creation costs ~0.5 s)."""
    return PracticeCA.open(tmp_path_factory.mktemp("practice") / "sandbox", MemorySecretStore(), now=NOW)


@pytest.fixture(scope="session")
def client(practice_ca):
    """An RSA client: (key, [leaf, intermediate]) with SAN = CLIENT_URI, issued from a CSR."""
    key = cached_key("rsa2048", 0)
    cert = practice_ca.issue_from_csr(make_csr(key, [CLIENT_URI]), now=NOW)
    return key, [cert, practice_ca.intermediate_cert]
