"""onboarding.default_scope: which scope a registration asks for when the user named none.

Found against the Evernorth/Okta reference server (tests/interop): a B2B client registered for
"openid" when the server listed no system/ scope in SMART v1 ``.read`` form.
"""

from types import SimpleNamespace

import pytest

from app.core.errors import InputError
from app.core.onboarding import default_scope

NONE = SimpleNamespace(scopes=[])


def meta(*scopes):
    return SimpleNamespace(scopes_supported=list(scopes))


@pytest.mark.parametrize("listed, expected", [
    (["openid", "system/Patient.read"], "system/Patient.read"),
    (["openid", "system/Patient.rs", "system/Observation.rs"], "system/Patient.rs"),   # SMART v2
    (["system/Patient.cruds", "system/Patient.r"], "system/Patient.r"),                  # read-only first
    (["openid", "system/*.read", "system/Patient.read"], "system/Patient.read"),         # specific first
    (["openid", "system/*.read"], "system/*.read"),                                      # listed wildcard
    (["openid", "system/Patient.write"], "system/Patient.write"),                        # any system/ last
])
def test_client_credentials_takes_a_system_scope(listed, expected):
    assert default_scope(meta(*listed), NONE) == expected


def test_client_credentials_without_system_scope_asks_the_user():
    with pytest.raises(InputError) as caught:
        default_scope(meta("openid", "fhirUser", "email", "profile", "udap"), NONE)
    assert caught.value.code == "no_system_scope"
    assert caught.value.fields["supported"] == ["openid", "fhirUser", "email", "profile", "udap"]


def test_authorization_code_and_the_rest_unchanged():
    assert default_scope(meta("openid", "user/*.read"), NONE, "authorization_code") == "openid"
    assert default_scope(meta("a", "b"), SimpleNamespace(scopes=["system/X.read", "udap"])) == "system/X.read udap"
    for grant in ("client_credentials", "authorization_code"):
        with pytest.raises(InputError) as caught:
            default_scope(meta(), NONE, grant)
        assert caught.value.code == "scope_required"
