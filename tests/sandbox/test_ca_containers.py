"""The practice CA's key containers use CA_KDF_ROUNDS, not the client key's 600,000 rounds.

cryptography holds the GIL for a PKCS#12 KDF: at 600,000 rounds each CA key froze the wizard for
~0.2 s (tests/bench/bench_gui.py); the CA's passphrase is random, so the rounds protected nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from app.core.keys import KDF_ROUNDS
from app.core.secrets import MemorySecretStore
from app.sandbox.ca import CA_KDF_ROUNDS, CA_NAMES, PracticeCA


def test_ca_containers_use_the_practice_rounds_and_still_open(tmp_path):
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl not installed")
    store = MemorySecretStore()
    ca = PracticeCA.open(tmp_path / "sandbox", store)
    assert CA_KDF_ROUNDS < KDF_ROUNDS
    for name in CA_NAMES:
        env = {**os.environ, "P12PASS": store.container_passphrase(ca._secret_name, create=False).decode()}
        out = subprocess.run([openssl, "pkcs12", "-info", "-noout", "-in", str(ca.folder / f"{name}.p12"),
                              "-passin", "env:P12PASS"], capture_output=True, text=True, env=env, timeout=30)
        assert out.returncode == 0, out.stderr
        bags = re.findall(r"Shrouded Keybag: (.*)", out.stdout + out.stderr)
        assert bags and all("AES-256-CBC" in b and int(re.search(r"Iteration (\d+)", b).group(1)) == CA_KDF_ROUNDS
                            for b in bags), bags
    reopened = PracticeCA.open(tmp_path / "sandbox", store)
    assert reopened._key("intermediate").public_key().public_numbers() == \
        ca.intermediate_cert.public_key().public_numbers()
