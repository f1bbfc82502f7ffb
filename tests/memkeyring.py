"""An in-memory keyring backend for tests (PYTHON_KEYRING_BACKEND=tests.memkeyring.MemoryKeyring)."""

import keyring.backend
import keyring.errors


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1

    def __init__(self):
        super().__init__()
        self._s = {}

    def get_password(self, service, username):
        return self._s.get((service, username))

    def set_password(self, service, username, password):
        self._s[(service, username)] = password

    def delete_password(self, service, username):
        try:
            del self._s[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError(username) from None
