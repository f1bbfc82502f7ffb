"""The wording of every explanation: "domain.code" -> (what happened, what to do next).

Data only; app/ui/feedback.py fills the ``{field}`` placeholders. Keep each sentence plain:
the reader may never have heard of UDAP. A placeholder may only name a field that every raise
site of that code passes (a missing one shows as "?"); tests/core/test_feedback.py checks this,
and that every code the core can raise has an entry here.

Besides errors, the tables below explain report items that are not exceptions: trust rows
(TRUST_REASONS), certificate check results (CERTIFICATE_PROBLEMS), software statement lint
(LINT_FINDINGS), discovery rows (DISCOVERY_REASONS, one plain sentence each) and the warnings of a
successful registration or token request. The wizard explains trust rows, certificate problems,
lint findings and discovery rows through MESSAGES too ("trust.<reason>", "certificate.<code>",
"statement.<code>", "discovery.<reason>"); the end of this file copies those tables in.
"""

_INTERNAL = "This is a fault in udap-onboard, not something you did; please report it with the details below."
_SERVER = "Do not register with this server until it is fixed; tell the server's operator."
_CLOCK = "Check this computer's date and time; if they are right, tell the server's operator."

DOMAIN_DEFAULTS = {
    "general": ("Something went wrong.", "Try the step again; the details below say what failed."),
    "input": ("A value you entered is not accepted.", "Correct the highlighted value and try again."),
    "storage": ("A file in your udap-onboard folder could not be read or written ({path}).",
                "Check free disk space and that the folder is yours and writable, then try again."),
    "profile": ("There is a problem with the profile.", "Check the profile name with `profile list`."),
    "community": ("The trust community definition is not usable.",
                  "Check the community's URI and trust anchor file, then add it again."),
    "secrets": ("The system keyring could not be used.",
                "Unlock your keyring (log in to the desktop session) or use a passphrase instead."),
    "key": ("Your private key could not be used.", "Check that the key file is present and the keyring is unlocked."),
    "certificate": ("The certificate could not be used.", "Check that you chose the file your community sent you."),
    "trust": ("The certificate chain could not be trusted.", "See the per-certificate rows for the reason."),
    "network": ("The server could not be reached ({url}).", "Check the address and your network, then try again."),
    "discovery": ("The server's UDAP metadata could not be validated.",
                  "Do not register with this server until the failing check is fixed; contact its operator."),
    "statement": ("The software statement could not be prepared.", "Fix the fields listed and try again."),
    "registration": ("The server did not accept the registration.",
                     "Read the server's reason below, fix it, then register again."),
    "token": ("The server did not issue an access token.", "Read the server's reason below, fix it, then try again."),
    "sandbox": ("The practice community could not be started.", "Close other copies of udap-onboard and try again."),
    "jws": ("A signed JSON Web Token is not valid.", "See the details; the server or file may be damaged."),
}

MESSAGES = {
    # --- jws (app/core/jose.py) ---
    "jws.malformed": ("A signed token is not in the expected three-part form (the {part} is damaged).",
                      "The token was altered or cut; ask for a fresh one."),
    "jws.too_large": ("A signed token is unreasonably large ({size} bytes).",
                      "It was refused to protect the app; the sender must send a smaller token."),
    "jws.payload_not_object": ("A signed token's contents are not a JSON object.", "The sender must fix its tokens."),
    "jws.x5c_missing": ("A signed token carries no certificate (x5c header).",
                        "The sender must include its certificate chain in the token header."),
    "jws.x5c_base64url": ("Certificate {index} in the token header uses base64url, not standard base64.",
                          "The sender must encode x5c entries with standard base64 (RFC 7515)."),
    "jws.x5c_not_base64": ("Certificate {index} in the token header is not base64.", "The sender must fix its x5c header."),
    "jws.x5c_bad_certificate": ("Certificate {index} in the token header is not a valid certificate.",
                                "The sender must fix its x5c header."),
    "jws.alg_missing": ("A signed token does not say which algorithm signed it.", "The sender must set `alg`."),
    "jws.alg_forbidden": ("A signed token uses the forbidden algorithm {alg}.",
                          "Only public-key signatures (RS256, ES256...) are accepted; the sender must change it."),
    "jws.alg_not_allowed": ("A signed token uses {alg}, which is not allowed here (allowed: {allowed}).",
                            "The sender must sign with one of the allowed algorithms."),
    "jws.algorithm_does_not_fit_key": ("The algorithm {alg} does not fit the key type.", "Choose a key type that supports it."),
    "jws.bad_signature": ("A signature does not verify against the certificate it carries.",
                          "The content was changed after signing, or signed with another key."),
    "jws.unsupported_key_type": ("This key type ({key_type}) cannot sign UDAP tokens.", "Use an RSA or EC P-256/P-384 key."),
    "jws.no_common_algorithm": ("The server accepts only {server}, and your key can sign only {ours}.",
                                "Create a key of a type the server accepts (RSA works with every FAST server)."),

    # --- input: subject and client URI (app/core/csr.py) ---
    "input.subject_field_required": ("A required field is empty: {field}.",
                                     "Fill it in; the CA copies it into your certificate."),
    "input.subject_field_too_long": ("The {field} is too long.", "Shorten it (certificates limit each name field)."),
    "input.subject_field_control_character": ("The {field} contains an invisible control character.",
                                              "Retype it instead of pasting it."),
    "input.country_invalid": ("The country must be a 2-letter code, not '{value}'.", "Type a code such as US or DE."),
    "input.email_invalid": ("'{value}' is not a usable e-mail address.", "Correct it, or leave the e-mail empty."),
    "input.client_uri_empty": ("The client URI is empty.", "Enter the URI your community assigned, e.g. https://apps.example.org/udap/b2b."),
    "input.client_uri_whitespace": ("The client URI contains a space at position {position}.", "Remove the spaces."),
    "input.client_uri_not_ascii": ("The client URI contains a non-ASCII character at position {position}.",
                                   "Use only plain ASCII letters, digits and URL punctuation."),
    "input.client_uri_invalid_character": ("The client URI has a character that is not allowed at position {position}.",
                                           "Remove or percent-encode it."),
    "input.client_uri_has_fragment": ("The client URI has a '#' fragment.", "Remove everything from '#' on."),
    "input.client_uri_not_absolute": ("The client URI must be absolute, with a scheme and a host.",
                                      "Write it in full, e.g. https://apps.example.org/udap/b2b."),
    "input.client_uri_locked": ("The client URI cannot change now: your certificate request already contains "
                                "{uri}.",
                                "Keep it, or start a new profile with the new client URI and a new request."),
    "input.passphrase_mismatch": ("The two passphrases you typed are different.",
                                  "Nothing was saved. Run the command again and type the same passphrase twice."),
    "input.client_uri_bad_port": ("The client URI has an invalid port.", "Correct the number after the ':'."),
    "input.client_uri_duplicate": ("The same URI is listed twice.", "Remove the copy."),
    "input.client_uri_not_openssl_safe": ("This URI contains a comma, which the openssl command line cannot express.",
                                          "Only the openssl listing is affected; use an openssl config file for it."),
    "input.key_too_small": ("That key is too small for UDAP.", "Create a new RSA key of 2048 bits or more, or EC P-256/P-384."),
    "input.unsupported_key_type": ("That key type cannot be used for UDAP.", "Create an RSA or EC P-256/P-384 key."),
    "input.unknown_key_type": ("'{value}' is not a key type this tool knows.",
                               "Use rsa-3072 (recommended), rsa-2048, rsa-4096, ec-p256 or ec-p384."),
    # --- input: profile, passphrase, token request (profile.py, onboarding.py, secrets.py, token.py) ---
    "input.bad_profile_name": ("That profile name cannot be used: profile names become folder names.",
                               "Use 1 to 64 letters, digits, spaces, '-', '_' or '.', not starting or ending "
                               "with a dot or a space, and not a reserved name such as CON or NUL."),
    "input.unknown_profile_field": ("The profile has no field called '{field}'.", _INTERNAL),
    "input.organization_id_not_uri": ("The organization identifier '{value}' is not a URI.",
                                      "Enter it as a URI, e.g. https://clinic.example.org (CLI: --org-id)."),
    "input.passphrase_too_short": ("The passphrase is too short.",
                                   "Choose one of at least {minimum} characters; a short sentence is easy to remember."),
    "input.scope_required": ("The server lists no scopes, so udap-onboard cannot choose one for you.",
                             "Enter the scope your community told you to use, e.g. system/Patient.read (CLI: --scope)."),
    "input.no_system_scope": ("The server lists no system/ scope, the kind a B2B (client_credentials) registration "
                              "asks for; it lists: {supported}.",
                              "Enter the scope your community told you to use, e.g. system/Patient.read (CLI: --scope)."),
    "input.token_scope_missing": ("No scope was given for the access token request.",
                                  "Enter the scope the server granted at registration (CLI: --scope)."),
    "input.client_id_missing": ("This profile has no client ID for that server.",
                                "Register with the server again, then request the token."),
    "input.purpose_of_use_empty": ("No purpose of use was given for the access token request.",
                                   "Choose at least one purpose of use, such as treatment (TREAT)."),
    "input.consent_reference_without_policy": ("A consent reference was given without a consent policy.",
                                               "Add the consent policy it belongs to, or remove the consent reference."),
    "input.fhir_url_other_origin": ("The FHIR address {url} is not on the server {base}.",
                                    "Enter a path on that server, such as metadata or Patient (CLI: --fhir)."),

    # --- storage (app/core/storage.py) ---
    "storage.read_only": ("udap-onboard may not write to {path}.",
                          "Make sure the folder is yours and not read-only (or choose another data folder with "
                          "--home), then try again."),
    "storage.disk_full": ("The disk is full, so {path} could not be written.",
                          "Free some disk space, then try again; the previous version of the file is unchanged."),
    "storage.write_failed": ("{path} could not be written ({reason}).",
                             "Check that the folder exists and is yours, then try again."),
    "storage.not_a_directory": ("{path} should be a folder but is a file.",
                                "Move that file away, or choose another data folder with --home."),
    "storage.file_not_found": ("{path} does not exist.", "Check the file name and folder."),
    "storage.file_unreadable": ("{path} cannot be read ({reason}).",
                                "Check that the file is yours and readable, then try again."),
    "storage.file_too_large": ("{path} is larger than expected ({limit} bytes at most).",
                               "Check that you chose the right file."),
    "storage.file_empty": ("{path} is empty.", "Choose the right file, or copy it again; it may have been cut off."),

    # --- profile (app/core/profile.py, onboarding.py) ---
    "profile.exists": ("A profile called '{name}' already exists.", "Open it from the list, or choose another name."),
    "profile.not_found": ("There is no profile called '{name}'.",
                          "Check the name with `profile list`, or create it with `profile create`."),
    "profile.damaged": ("The profile file {path} is damaged and cannot be read.",
                        "If profile.json.prev is in the same folder, copy it over profile.json and try again; "
                        "otherwise create a new profile."),
    "profile.newer_format": ("{path} was written by a newer version of udap-onboard.",
                             "Update udap-onboard to the latest version to open it."),
    "profile.no_backup": ("There is no backup of profile '{name}' to go back to.",
                          "Create the profile again if it cannot be opened."),
    "profile.backup_damaged": ("The backup of profile '{name}' is damaged too.",
                               "Create the profile again; keep the damaged files in case support asks for them."),
    "profile.bad_key_file": ("Profile '{name}' points at a key file outside its folder ({key_file}).",
                             "The profile file was edited or damaged; restore it from a backup or create the profile "
                             "again."),
    "profile.bad_registration_key": ("A registration could not be saved because its {field} is empty.", _INTERNAL),
    "profile.bad_registration_record": ("The server's answer could not be saved in the profile.", _INTERNAL),
    "profile.secret_in_profile": ("A private key was about to be written into profile '{name}', so nothing was saved.",
                                  _INTERNAL),
    "profile.not_registered": ("Profile '{profile}' is not registered with {server}.",
                               "Register with that server first (the Register step, or `register --server ...`)."),

    # --- community (app/core/community.py) ---
    "community.name_empty": ("The trust community needs a name.", "Type a short name, e.g. the network's name."),
    "community.name_unsafe": ("That community name cannot be used.",
                              "Use at most 100 ordinary characters, without tabs, line breaks or invisible characters."),
    "community.uri_empty": ("The community URI is empty.",
                            "Enter the URI your community publishes for discovery, e.g. udap://fhirlabs.net/ "
                            "(CLI: --uri)."),
    "community.uri_not_absolute": ("The community URI '{uri}' is not a complete URI.",
                                   "Copy it exactly as your community publishes it, with its scheme (e.g. udap:// or "
                                   "https://) and without spaces."),
    "community.server_url_invalid": ("The server address '{url}' cannot be used.",
                                     "Enter the server's FHIR base URL starting with https:// and without a '#' part "
                                     "(plain http only for this computer)."),
    "community.bad_revocation": ("The revocation setting '{value}' is unknown.",
                                 "Use hard (refuse when revocation cannot be checked) or soft (warn only) "
                                 "(CLI: --revocation)."),
    "community.no_anchors": ("The community '{name}' has no trust anchor certificate.",
                             "Add the community's root certificate (CLI: --anchor FILE)."),
    "community.anchor_unreadable": ("One of the trust anchor files is not a readable certificate.",
                                    "Choose the anchor certificate file your community published (PEM or DER)."),
    "community.intermediate_unreadable": ("One of the community's intermediate certificates cannot be read.",
                                          "Add the community again with fresh copies of its certificates."),
    "community.tls_anchor_unreadable": ("One of the TLS root certificate files cannot be read.",
                                        "Choose the TLS root certificate your community published, PEM or DER "
                                        "(CLI: --tls-anchor)."),
    "community.anchor_not_ca": ("The anchor file holds {subject}, which is not a CA certificate.",
                                "Choose the community's root CA certificate, not a client or server certificate."),
    "community.fingerprint_malformed": ("The fingerprint you entered ({value}) is not a SHA-256 fingerprint.",
                                        "Copy the whole SHA-256 fingerprint your community published: 32 pairs of "
                                        "hex digits, for example 3A:7F:...; or leave the field empty."),
    "community.anchor_fingerprint_mismatch": ("A trust anchor does not match its published fingerprint "
                                              "(expected {expected}, found {actual}).",
                                              "Do not use this file; get the anchor again from your community and "
                                              "compare the fingerprint."),
    "community.bad_definition": ("A trust community definition is damaged.",
                                 "Add the community again, or get a fresh copy of the communities file."),
    "community.catalog_damaged": ("The list of trust communities ({path}) is damaged.",
                                  "If communities.json.prev is in the same folder, copy it over communities.json; "
                                  "otherwise move the file away and add your communities again."),
    "community.newer_format": ("{path} was written by a newer version of udap-onboard.",
                               "Update udap-onboard to the latest version."),
    "community.not_found": ("There is no trust community called '{name}'.",
                            "Check the name with `community list`, or add it with `community add`."),
    "community.exists": ("A trust community called '{name}' already exists.",
                         "Choose another name, or replace it (CLI: `community add ... --replace`)."),
    "community.builtin_readonly": ("'{name}' is built into udap-onboard and cannot be changed or removed.",
                                   "Add your own community under another name."),

    # --- secrets: the keyring that keeps the key's passphrase (app/core/secrets.py) ---
    "secrets.keyring_locked": ("Your system keyring ({backend}) is locked.",
                               "Unlock it (log in to the desktop session, or unlock it in your keyring app), "
                               "then try again."),
    "secrets.keyring_unavailable": ("The system keyring ({backend}) is not available.",
                                    "Make sure you are logged in to a desktop session with its keyring running "
                                    "(log out and in again if needed), then try again."),
    "secrets.keyring_refused": ("The system keyring ({backend}) refused to store or read your key's passphrase.",
                                "Allow udap-onboard when the keyring asks, or unlock the keyring, then try again."),
    "secrets.keyring_error": ("The system keyring ({backend}) reported an error.",
                              "Try again; if it keeps failing, log out and in again to restart the keyring."),
    "secrets.keyring_failed": ("The system keyring ({backend}) failed unexpectedly.",
                               "Try again; if it keeps failing, log out and in again to restart the keyring."),
    "secrets.keyring_timeout": ("The system keyring ({backend}) did not answer within {seconds} seconds.",
                                "It may be waiting for you to unlock it in a hidden window: look for a keyring "
                                "prompt, unlock it, then try again."),
    "secrets.no_secure_keyring": ("No secure system keyring was found to keep your key's passphrase.",
                                  "Log in to a desktop session with a keyring, or protect the key with a passphrase "
                                  "you type (CLI: --passphrase-stdin)."),
    "secrets.passphrase_missing": ("The passphrase for your private key is not available.",
                                   "If you chose a passphrase, type it (CLI: --passphrase-stdin). If the keyring kept "
                                   "it, this key was made on another computer or user account, or the keyring was "
                                   "reset: create a new key (`key generate --replace`) and get a new certificate."),
    "secrets.secret_too_long": ("A secret is too long for the system keyring ({length} characters, at most {limit}).",
                                _INTERNAL),

    # --- key: the encrypted private key file (app/core/keys.py, onboarding.py) ---
    "key.passphrase_empty": ("The key could not be protected because its passphrase is empty.",
                             "Type a passphrase, or unlock the system keyring, then try again."),
    "key.certificate_key_mismatch": ("The certificate to be stored with the key belongs to another key.",
                                     "Import the certificate issued for this profile's certificate request."),
    "key.damaged": ("Your private key file is damaged and cannot be opened.",
                    "Restore the key file from a backup if you have one; otherwise create a new key "
                    "(`key generate --replace`) and get a new certificate for it."),
    "key.wrong_passphrase": ("The passphrase does not open your private key file.",
                             "If you type a passphrase, check it and type it again. If the keyring keeps it, the key "
                             "file was replaced or changed: restore the right file, or create a new key "
                             "(`key generate --replace`)."),
    "key.no_key": ("The key file holds no private key.",
                   "Choose the right file, or create a new key (`key generate --replace`)."),
    "key.unsupported_key": ("The key file holds a kind of key ({algorithm}) that udap-onboard cannot use.",
                            "Create a new RSA or EC P-256/P-384 key (`key generate --replace`)."),
    "key.exists": ("This profile already has a private key ({path}).",
                   "Keep using it. To replace it use `key generate --replace`: the old key is kept as key.p12.prev "
                   "and the certificate for it stops working."),
    "key.worker_unavailable": ("The helper process that protects your key could not run ({reason}).",
                               "Nothing was lost: the key is protected in the main program instead. If this "
                               "keeps happening, reinstall udap-onboard."),
    "key.missing": ("This profile's private key file is missing ({path}).",
                    "Create the key first (the Key step, or `key generate`); if you moved the file, put it back."),

    # --- certificate loading (app/core/certs.py) ---
    "certificate.empty": ("The file or pasted text is empty.", "Choose the certificate file your CA sent back."),
    "certificate.too_large": ("That file is too large to be a certificate.", "Choose the certificate file, not an archive or a disk image."),
    "certificate.file_too_large": ("{path} is too large to be a certificate.", "Choose the certificate file, not an archive or a disk image."),
    "certificate.file_not_found": ("{path} does not exist.", "Check the file name and folder."),
    "certificate.file_unreadable": ("{path} cannot be read.", "Check that the file is yours and readable."),
    "certificate.unrecognized_format": ("This is not a certificate format udap-onboard recognizes.",
                                        "Ask the CA for PEM, DER, PKCS#7 (.p7b) or PKCS#12 (.p12/.pfx)."),
    "certificate.truncated_pem": ("The certificate text is cut short (its END line or some lines are missing).",
                                  "Copy or download it again, all the way to -----END CERTIFICATE-----."),
    "certificate.truncated_der": ("The certificate file is cut short.", "Download it again."),
    "certificate.malformed_pem": ("The certificate text is damaged.", "Get a fresh copy from the CA."),
    "certificate.malformed_der": ("The certificate file is damaged.", "Get a fresh copy from the CA."),
    "certificate.unsupported_content": ("The certificate uses an algorithm this tool cannot read.",
                                        "Ask the CA for an RSA or EC certificate."),
    "certificate.no_certificates": ("The file holds no certificate.",
                                    "Choose the file the CA sent back after signing your request."),
    "certificate.csr_not_certificate": ("This is your certificate request, not the issued certificate.",
                                        "Paste the answer the CA sent back instead."),
    "certificate.pkcs12_password_required": ("This PKCS#12 file is protected by a password.",
                                             "Enter the password the CA gave you (CLI: --password-stdin)."),
    "certificate.pkcs12_wrong_password": ("The PKCS#12 password is wrong.", "Check the password the CA gave you and try again."),
    "certificate.pkcs12_unsupported_encryption": ("This PKCS#12 file uses an old encryption ({algorithm}) that cannot "
                                                  "be opened here.",
                                                  "Re-export it with AES encryption, or ask the CA for PEM files."),
    "certificate.no_certificate_for_key": ("None of these certificates belongs to your private key.",
                                           "Make sure the CA signed the request made by this profile (the CSR step)."),
    "certificate.key_mismatch": ("The certificate is for another key.", "Ask the CA to issue it from this profile's request."),
    "certificate.no_certificate_yet": ("Profile '{profile}' has no certificate yet.",
                                       "Import the certificate your CA issued (`cert import`), or get one from the "
                                       "practice community (`sandbox issue`)."),
    "certificate.pkcs12_without_key": ("This PKCS#12 file holds no private key.",
                                       "Import it as a certificate only (without --with-key), or ask the CA for the "
                                       "file that includes your key."),

    # --- trust (app/core/trust.py); row reasons are explained with TRUST_REASONS ---
    "trust.no_anchors": ("The trust community has no trust anchor.", "Add the community's anchor certificate to it."),
    "trust.unknown_revocation_mode": ("The community's revocation setting '{revocation}' is unknown.",
                                      "Set it to hard or soft with `community add ... --revocation`."),

    # --- network (app/core/http.py) ---
    "network.not_json": ("The server at {url} answered with something that is not JSON (HTTP {status}).",
                         "Check that the address is the FHIR server's, not a web page; the details show the start "
                         "of the answer."),
    "network.not_json_object": ("The server at {url} answered with JSON that is not an object.",
                                "Check the address; if it is right, tell the server's operator."),
    "network.bad_url": ("'{url}' is not a usable web address.", "Enter a full address starting with https://."),
    "network.insecure_url": ("{url} uses plain http, which is not allowed.",
                             "Use the https:// address. Plain http works only for this computer, with "
                             "--allow-insecure-loopback."),
    "network.bad_tls_anchor": ("One of the community's TLS root certificates cannot be used.",
                               "Add the community again with the TLS root file it published (CLI: --tls-anchor)."),
    "network.tls_expired": ("The secure connection to {host} failed: the server's HTTPS certificate has expired.",
                            _CLOCK),
    "network.tls_not_yet_valid": ("The secure connection to {host} failed: the server's HTTPS certificate is not "
                                  "valid yet.", _CLOCK),
    "network.tls_wrong_name": ("The secure connection to {host} failed: the server's HTTPS certificate is for "
                               "another name.",
                               "Check the address (use the exact name the community published); if it is right, "
                               "tell the server's operator."),
    "network.tls_unknown_ca": ("The secure connection to {host} failed: its HTTPS certificate is not from an "
                               "authority this computer trusts.",
                               "If your community uses its own TLS root, add it to the community (CLI: --tls-anchor). "
                               "In a company network a proxy may be in the way; ask your IT support."),
    "network.tls_revoked": ("The secure connection to {host} failed: the server's HTTPS certificate was revoked.",
                            "Do not continue; tell the server's operator."),
    "network.tls_failed": ("The secure (HTTPS) connection to {host} could not be set up.",
                           "Check the address and any proxy or firewall; if they are right, tell the server's "
                           "operator."),
    "network.timeout": ("The server at {url} did not answer in time.",
                        "Check your network connection and try again; the server may be busy or down."),
    "network.dns_failed": ("The server name {host} could not be found.",
                           "Check the address for typing mistakes and that this computer is online."),
    "network.connect_failed": ("No connection could be made to {url}.",
                               "Check the address and that the server is running; a firewall or proxy may block it."),
    "network.connection_lost": ("The connection to {url} broke off before the answer was complete.",
                                "Try again; if it keeps happening, check your network or proxy."),
    "network.protocol_error": ("The server at {url} answered in a way that does not follow HTTP.",
                               "Try again; if it keeps happening, tell the server's operator."),
    "network.bad_content_encoding": ("The answer from {url} could not be decoded (damaged compression).",
                                     "Try again; if it keeps happening, tell the server's operator."),
    "network.request_failed": ("The request to {url} failed.", "Check the address and your network, then try again."),
    "network.too_large": ("The answer from {url} is larger than allowed ({limit} bytes).",
                          "Check that the address is right; the server may be sending the wrong file."),
    "network.too_many_redirects": ("The server at {url} sent udap-onboard on to other addresses too many times.",
                                   "Enter the final address directly, or tell the server's operator."),
    "network.redirect_refused": ("The server at {url} tried to send udap-onboard to {location}, which it does not "
                                 "follow.",
                                 "Use the address your community published; if the server moved, check the new "
                                 "address and enter it yourself."),
    "network.http_status": ("The server at {url} answered with HTTP status {status}.",
                            "Check the address; if it is right, the server has a problem: try later or tell its "
                            "operator."),

    # --- discovery (app/core/discovery.py): one per row reason; network reasons are copied in below ---
    "discovery.rejected": ("The server {base_url} did not pass the UDAP checks.",
                           "Do not register with this server; check it again to see which check failed."),
    "discovery.bad_base_url": ("'{base_url}' is not a usable FHIR server address.",
                               "Enter the server's full FHIR base URL, starting with https:// and with nothing after "
                               "the path (no question mark or '#')."),
    "discovery.no_udap": ("The server does not support UDAP (it has no /.well-known/udap).",
                          "Check that you entered the FHIR base URL, not the web site; if it is right, this server "
                          "cannot be used with UDAP."),
    "discovery.not_for_community": ("The server has no UDAP support for the community {community}.",
                                    "Check that you chose the right trust community; otherwise ask the server's "
                                    "operator which communities it supports."),
    "discovery.clock_skew": ("This computer's clock differs from the server's by {skew_seconds} seconds.",
                             "Set this computer's date and time automatically (network time): servers refuse "
                             "requests whose times look wrong."),
    "discovery.legacy_signed_endpoints": ("The server uses an old form of signed metadata (signed_endpoints).",
                                          "Ask the server's operator to upgrade to signed_metadata; until then this "
                                          "server cannot be used."),
    "discovery.signed_metadata_missing": ("The server's metadata is not signed (no signed_metadata).", _SERVER),
    "discovery.signed_metadata_not_string": ("The server's signed metadata is not a signed token.", _SERVER),
    "discovery.malformed": ("The server's signed metadata is damaged (not a three-part signed token).", _SERVER),
    "discovery.too_large": ("The server's answer is unreasonably large ({size} bytes).",
                            "Check the address; if it is right, tell the server's operator."),
    "discovery.payload_not_object": ("The server's signed metadata holds no JSON object.", _SERVER),
    "discovery.alg_missing": ("The server's signed metadata does not say how it was signed.", _SERVER),
    "discovery.alg_forbidden": ("The server's signed metadata uses {alg}, which is not a public-key signature.",
                                _SERVER),
    "discovery.alg_not_allowed": ("The server signed its metadata with {alg}; only {allowed} are accepted.", _SERVER),
    "discovery.alg_not_rs256": ("The server signed its metadata with {alg} instead of RS256, which the standard "
                                "requires.",
                                "Usually fine; tell the server's operator if other clients have problems."),
    "discovery.x5c_missing": ("The server's signed metadata carries no certificate.", _SERVER),
    "discovery.x5c_base64url": ("A certificate in the server's signed metadata is encoded the wrong way "
                                "(base64url instead of base64).", _SERVER),
    "discovery.x5c_not_base64": ("A certificate in the server's signed metadata cannot be read.", _SERVER),
    "discovery.x5c_bad_certificate": ("A certificate in the server's signed metadata is damaged.", _SERVER),
    "discovery.bad_signature": ("A signature does not verify: the server's metadata was changed after signing, or "
                                "its certificate was not signed by its issuer.", _SERVER),
    "discovery.algorithm_does_not_fit_key": ("The server's signed metadata names {alg}, which does not fit the key "
                                             "of its certificate.", _SERVER),
    "discovery.unsupported_key_type": ("The server's signing certificate has a key type udap-onboard cannot check "
                                       "({key_type}).", _SERVER),
    "discovery.untrusted_chain": ("The server's signing certificate could not be trusted.",
                                  "Check that you chose the right trust community; otherwise tell the server's "
                                  "operator."),
    "discovery.expired": ("The server's signed metadata, or the certificate that signed it, has expired.", _CLOCK),
    "discovery.not_yet_valid": ("The server's signing certificate is not valid yet.", _CLOCK),
    "discovery.revoked": ("The server's signing certificate has been revoked by its issuer.", _SERVER),
    "discovery.missing_intermediate": ("The server's signing certificate cannot be traced back to your community: "
                                       "a certificate in between is missing.",
                                       "Tell the server's operator to send its intermediate certificates, or to make "
                                       "them downloadable."),
    "discovery.untrusted_root": ("The server's signing certificate does not come from your trust community.",
                                 "Check that you chose the right trust community for this server; otherwise do not "
                                 "register with it."),
    "discovery.not_a_ca": ("The server's certificate chain is broken: a certificate that is not a CA issued another.",
                           _SERVER),
    "discovery.policy_rejected": ("The server's certificate chain breaks a certificate rule (see the details).",
                                  _SERVER),
    "discovery.crl_unavailable": ("The revocation list for the server's certificate could not be downloaded, so "
                                  "revocation is unknown.",
                                  "Check your network or proxy and try again; if it keeps failing, tell the server's "
                                  "operator."),
    "discovery.crl_stale": ("The revocation list for the server's certificate is out of date.",
                            "Check this computer's date and time; otherwise try later or tell the community."),
    "discovery.crl_bad_signature": ("The revocation list for the server's certificate is not correctly signed.",
                                    _SERVER),
    "discovery.crl_wrong_issuer": ("The revocation list for the server's certificate belongs to another CA.",
                                   _SERVER),
    "discovery.no_crl_distribution_point": ("The server's certificate names no revocation list, so it cannot be "
                                            "checked for revocation.",
                                            "Usually fine; tell the server's operator if your community requires "
                                            "revocation checks."),
    "discovery.no_anchors": ("Your trust community has no trust anchor, so the server cannot be checked.",
                             "Add the community's anchor certificate, then try again."),
    "discovery.unknown_revocation_mode": ("The community's revocation setting is unknown, so the server cannot be "
                                          "checked.",
                                          "Add the community again with --revocation hard or soft."),
    "discovery.anchor_unreadable": ("One of your community's anchor certificates cannot be read.",
                                    "Add the community again with the anchor file it published."),
    "discovery.claim_missing": ("The server's signed metadata lacks required items: {claims}.", _SERVER),
    "discovery.claim_type": ("Items in the server's signed metadata have the wrong type: {claims}.", _SERVER),
    "discovery.issued_in_future": ("The server's signed metadata is dated in the future.", _CLOCK),
    "discovery.lifetime_over_one_year": ("The server's signed metadata is valid for more than a year, longer than "
                                         "allowed.", "Usually harmless; tell the server's operator."),
    "discovery.iss_not_base_url": ("The server calls itself {actual}, but you entered {expected}; they agree only for "
                                   "the first {position} characters.",
                                   "Enter the address exactly as the server calls itself (watch for a trailing slash "
                                   "or capital letters); if you copied it from your community, tell the operator."),
    "discovery.iss_not_in_san": ("The server's certificate is not issued to {iss}, the name it signs with.", _SERVER),
    "discovery.sub_not_iss": ("The server's signed metadata names two different servers (its iss and sub differ).",
                              _SERVER),
    "discovery.endpoint_not_signed": ("The server's {endpoint} is not in its signed metadata, so it cannot be "
                                      "trusted.", _SERVER),
    "discovery.endpoint_mismatch": ("The server's {endpoint} differs between its signed metadata ({signed}) and its "
                                    "unsigned metadata ({unsigned}).", _SERVER),
    "discovery.endpoint_not_https": ("The server's {endpoint} ({value}) is not a secure https address.", _SERVER),
    "discovery.signed_metadata_rejected": ("The server's signed metadata failed the checks {failed_checks}, so its "
                                           "addresses cannot be trusted.",
                                           "Do not register with this server; tell its operator which checks failed."),
    "discovery.element_missing": ("The server's metadata lacks the required item {element}.", _SERVER),
    "discovery.element_type": ("The server's metadata item {element} is not {expected}.", _SERVER),
    "discovery.udap_version_unsupported": ("The server does not offer UDAP version 1.",
                                           "This server cannot be used with udap-onboard; tell its operator."),
    "discovery.grant_type_not_supported": ("The server does not offer the {wanted} kind of access.",
                                           "Ask the server's operator whether it can be enabled for you."),
    "discovery.profile_missing": ("The server does not support required parts of UDAP: {missing}.",
                                  "This server cannot be used with UDAP; tell its operator."),
    "discovery.udap_authz_missing": ("The server does not list udap_authz although it offers client_credentials.",
                                     "Usually harmless; tell the server's operator."),
    "discovery.private_key_jwt_missing": ("The server does not accept signed-key client authentication "
                                          "(private_key_jwt), which UDAP requires.",
                                          "This server cannot be used with UDAP; tell its operator."),
    "discovery.no_common_algorithm": ("The server accepts only {offered} for {element}, and udap-onboard signs with "
                                      "{ours}.",
                                      "Ask the server's operator to accept RS256; every FAST server should."),
    "discovery.scopes_supported_missing": ("The server does not list the scopes (kinds of access) it offers.",
                                           "Enter the scope your community told you to use when you register "
                                           "(CLI: --scope)."),
    "discovery.extension_unsupported": ("The server requires authorization extensions udap-onboard cannot provide: "
                                        "{unsupported}.",
                                        "Ask the server's operator whether they are really needed; until then this "
                                        "server cannot be used."),
    "discovery.hl7_b2b_not_listed": ("The server does not list the hl7-b2b extension udap-onboard sends with token "
                                     "requests.",
                                     "Usually harmless; if token requests fail, tell the server's operator."),
    "discovery.certifications_required": ("The server requires certifications udap-onboard cannot provide: "
                                          "{certifications}.",
                                          "Ask your community how to obtain them; until then this server cannot be "
                                          "used."),

    # --- statement (app/core/statement.py); lint findings are explained with LINT_FINDINGS ---
    "statement.naive_time": ("A time without a time zone reached the software statement.", _INTERNAL),
    "statement.unknown_grant": ("'{grant}' is not a kind of access udap-onboard can register.",
                                "Choose client_credentials (system to system) or authorization_code (CLI: --grant)."),
    "statement.lint_failed": ("The registration request was not sent: it has problems a server would refuse "
                              "({codes}).",
                              "Fix the problems listed, then try again."),

    # --- registration (app/core/registration.py, onboarding.py) ---
    "registration.success_response_unreadable": ("The server answered HTTP {status}, but not with a readable "
                                                 "registration, so it cannot be confirmed.",
                                                 "Register again later to confirm; if it keeps happening, tell the "
                                                 "server's operator (the details show its answer)."),
    "registration.unexpected_status": ("The registration server answered with the unexpected HTTP status {status}.",
                                       "Try again later; if it keeps happening, tell the server's operator (the "
                                       "details show its answer)."),
    "registration.no_client_id": ("The server accepted the registration but gave no client ID.",
                                  "Tell the server's operator; without a client ID no access token can be requested."),
    "registration.rejected_invalid_software_statement": (
        "The server refused the registration request as invalid (invalid_software_statement).",
        "Check that this computer's clock is right and that your certificate contains your client URI exactly, then "
        "register again; the details show the server's reason and what udap-onboard's own check found."),
    "registration.rejected_unapproved_software_statement": (
        "The server does not trust your certificate (unapproved_software_statement).",
        "Do not retry with the same certificate. Check that it is from this server's trust community, valid and not "
        "revoked, or ask your community for a certificate this server accepts."),
    "registration.rejected_invalid_client_metadata": (
        "The server refused some registration details (invalid_client_metadata): scopes, kind of access, logo or "
        "contacts.",
        "Ask only for scopes the server lists and check the logo and contact e-mail, then register again; the "
        "details show the server's reason."),
    "registration.rejected_invalid_redirect_uri": (
        "The server refused a redirect URI (invalid_redirect_uri).",
        "Use https redirect URIs the server allows (CLI: --redirect-uri), then register again."),
    "registration.rejected_unapproved_certification": (
        "The server does not trust a certification sent with the registration (unapproved_certification).",
        "Remove it, or get one from a certifier this server trusts, then register again."),
    "registration.rejected_invalid_certification": (
        "A certification sent with the registration is invalid (invalid_certification).",
        "Fix or remove it, then register again."),
    "registration.rejected_other": ("The server refused the registration with the error '{error}'.",
                                    "Read the server's reason below, fix it, then register again; ask the server's "
                                    "operator if it is unclear."),
    "registration.rejected_without_error_code": ("The server refused the registration (HTTP {status}) without saying "
                                                 "why.",
                                                 "Look at the most likely problems udap-onboard's own check found "
                                                 "(details), fix them and register again, or ask the server's "
                                                 "operator."),
    "registration.endpoint_not_found": ("The server has no registration service at {endpoint} (HTTP {status}).",
                                        "That address comes from the server's own signed metadata, so the server "
                                        "is set up wrongly; tell its operator. Nothing is wrong with your "
                                        "registration details."),
    "registration.server_error": ("The registration server failed (HTTP {status}).",
                                  "Try again later; if it keeps failing, tell the server's operator."),
    "registration.unexpected_outcome": ("The registration ended in an unexpected state ({outcome}).",
                                        "Register again; if it keeps happening, report it with the details below."),
    "registration.no_retry_same_certificate": ("{server} already refused this certificate as untrusted, so it was "
                                               "not sent again.",
                                               "Get a certificate this server's trust community accepts (the "
                                               "Certificate step), then register again."),
    "registration.internal_error": ("The registration could not be completed because of a fault in udap-onboard.",
                                    _INTERNAL),

    # --- token (app/core/token.py) ---
    "token.token_response_unreadable": ("The token server answered HTTP {status}, but not with a readable token.",
                                        "Try again; if it keeps happening, tell the server's operator (the details "
                                        "show its answer)."),
    "token.unexpected_status": ("The token server answered with the unexpected HTTP status {status}.",
                                "Try again; if it keeps happening, tell the server's operator (the details show its "
                                "answer)."),
    "token.no_access_token": ("The token server answered without an access token.",
                              "Tell the server's operator (the details show which items it sent)."),
    "token.rejected_invalid_client": ("The server did not accept your client (invalid_client): it does not know "
                                      "your client ID or does not trust your certificate.",
                                      "Register with this server again (the registration may have been cancelled, or "
                                      "your certificate changed), then request the token again."),
    "token.rejected_invalid_request": ("The server found the token request malformed or its signature invalid "
                                       "(invalid_request).",
                                       "Check that this computer's clock is right, and register again if your "
                                       "certificate changed; the details show the server's reason."),
    "token.rejected_invalid_grant": ("The server refused the request's authorization details (invalid_grant), such "
                                     "as the organization or the purpose of use.",
                                     "Check the organization identifier and purpose of use, then try again; the "
                                     "details show the server's reason."),
    "token.rejected_invalid_scope": ("The server refused the requested scope (invalid_scope).",
                                     "Ask only for scopes the server granted at registration (CLI: --scope), then "
                                     "try again."),
    "token.rejected_unauthorized_client": ("Your client may not use this kind of access (unauthorized_client).",
                                           "Register again for client_credentials access, or ask the server's "
                                           "operator to allow it."),
    "token.rejected_unsupported_grant_type": ("The server does not support this kind of access "
                                              "(unsupported_grant_type).",
                                              "Ask the server's operator whether it offers system-to-system "
                                              "(client_credentials) access."),
    "token.rejected_other": ("The server refused the token request with the error '{error}'.",
                             "Read the server's reason below, fix it and try again; ask the server's operator if it "
                             "is unclear."),
    "token.rejected_without_error_code": ("The token server refused the request (HTTP {status}) without saying why.",
                                          "Check that this computer's clock is right and that you are registered, "
                                          "then try again; otherwise ask the server's operator."),
    "token.endpoint_not_found": ("The server has no token service at {url} (HTTP {status}).",
                                 "That address comes from the server's own signed metadata, so the server is set "
                                 "up wrongly; tell its operator."),
    "token.server_error": ("The token server failed (HTTP {status}).",
                           "Try again later; if it keeps failing, tell the server's operator. If your key is EC, the "
                           "server may accept only RSA keys."),

    # --- sandbox: the practice community on this computer (app/sandbox/*.py) ---
    "sandbox.no_free_port": ("No free network port was found for the practice community (tried {low} to {high}).",
                             "Close programs you do not need, or choose a port (CLI: `sandbox serve --port N`)."),
    "sandbox.ca_damaged": ("The practice community's CA files are damaged ({path}).",
                           "Delete the sandbox folder in your udap-onboard data folder to start a fresh practice "
                           "community; certificates from the old one then stop working."),
    "sandbox.csr_unreadable": ("The practice CA could not read the certificate request.",
                               "Create the request again (the CSR step)."),
    "sandbox.csr_weak_key": ("The practice CA refuses the request: its key ({key_type}) is too weak.",
                             "Create a new key (RSA 2048 bits or more, or EC P-256/P-384) and a new request."),
    "sandbox.csr_unsupported_key": ("The practice CA cannot sign a request for this key type ({key_type}).",
                                    "Create an RSA or EC P-256/P-384 key and a new request."),
    "sandbox.csr_bad_signature": ("The certificate request's signature does not verify.",
                                  "Create the request again (the CSR step)."),
    "sandbox.csr_no_uri_san": ("The certificate request contains no client URI.",
                               "Create the request again from the profile; it puts the client URI in."),
    "sandbox.san_copy_mismatch": ("The practice CA issued a certificate whose client URI differs from the request.",
                                  _INTERNAL),
    "sandbox.unknown_ca": ("The practice community has no CA called '{name}'.", _INTERNAL),
    "sandbox.gallery_client_uri_invalid": ("'{uri}' cannot be used as the client URI of the training certificates.",
                                           "Give a URI without spaces or non-ASCII characters (CLI: --client-uri)."),
    "sandbox.unknown_mode": ("'{mode}' is not a practice server mode.", "Use one of: {known}."),
    "sandbox.http_port_in_use": ("Port {port}, which the practice certificates point at, is used by another program.",
                                 "If `sandbox serve` runs in another window, keep using that one; otherwise close the "
                                 "program using the port and try again."),
    "sandbox.port_in_use": ("Port {port} is already in use.",
                            "Choose another port (CLI: --port), or close the program using it."),
    "sandbox.registrations_damaged": ("The practice server's list of registrations ({path}) is damaged.",
                                      "Delete that file to start again with no practice registrations."),
    "sandbox.not_started": ("The practice community is not running.", "Start it (CLI: `sandbox serve`), then try again."),
}

# One row per certificate in a trust report: reason -> (what it means, what to do next).
TRUST_REASONS = {
    "ok": ("Valid, and not revoked according to a current revocation list.", ""),
    "anchor": ("This is the community's trust anchor.", ""),
    "expired": ("This certificate has expired.", "Renew it, or ask the CA for its current chain."),
    "not_yet_valid": ("This certificate is not valid yet.", "Check the computer's clock, or wait until its start date."),
    "revoked": ("The issuer has revoked this certificate.", "Get a new certificate and ask the CA why it was revoked."),
    "bad_signature": ("The issuer's key did not sign this certificate.",
                      "Import the chain again; ask the CA whether its key changed."),
    "missing_intermediate": ("The certificate that issued this one was not supplied and could not be fetched.",
                             "Add the intermediate certificate file, or ask the CA for the full chain."),
    "untrusted_root": ("The chain ends at a root that is not this community's trust anchor.",
                       "Choose the right community, or use a certificate issued by its CA."),
    "not_a_ca": ("A certificate in the chain issues others but is not a CA.", "The CA issued a broken chain; contact it."),
    "policy_rejected": ("The chain breaks a certificate rule: {message}.", "Send these details to the CA."),
    "crl_unavailable": ("The revocation list could not be fetched, so revocation is unknown.",
                        "Check the network or proxy and try again."),
    "crl_stale": ("The revocation list is out of date.", "Try again later or tell the CA; check the computer's clock."),
    "crl_bad_signature": ("The revocation list is not signed by the issuer.", "Tell the CA; that list cannot be trusted."),
    "crl_wrong_issuer": ("The revocation list belongs to another CA.", "Tell the CA: its distribution point is wrong."),
    "no_crl_distribution_point": ("This certificate names no revocation list, so it cannot be checked.",
                                  "Ask the CA to add one; some servers refuse such certificates."),
}

# Certificate check results (certs.check_client_certificate): code -> (what it means, what to do next).
CERTIFICATE_PROBLEMS = {
    "key_mismatch": ("The certificate is for another key, not this profile's.",
                     "Ask the CA to issue it from this profile's certificate request."),
    "client_uri_missing": ("The certificate does not contain your client URI {expected} exactly; the closest is {closest}, "
                           "which differs at character {position}.",
                           "Correct the client URI in the profile, or ask the CA to reissue with the exact URI."),
    "no_uri_san": ("The certificate contains no URI at all.", "Ask the CA to reissue it with your client URI."),
    "expired": ("The certificate has expired.", "Renew it with the CA, then register again."),
    "not_yet_valid": ("The certificate is not valid yet.", "Check the computer's clock, or wait until its start date."),
    "expires_soon": ("The certificate expires in {days_left} days.", "Plan the renewal and re-register after it."),
    "no_key_usage": ("The certificate does not say what it may be used for.", "Usually fine; some servers may refuse it."),
    "no_digital_signature": ("The certificate may not be used for signatures.", "Ask the CA for a client certificate with digitalSignature."),
    "is_ca": ("This is a CA certificate, not a client certificate.", "Import the certificate issued to you, not the CA's."),
    "weak_key": ("The certificate's key is too weak.", "Create a new RSA 3072 key and request a new certificate."),
    "unsupported_key_type": ("The certificate's key type cannot be used for UDAP.", "Use RSA or EC P-256/P-384."),
}

# Software statement lint (statement.lint): code -> (what it means, what to do next). Most findings can only
# come from a fault of ours (the tool builds the claims); the rest name the page or CLI option to change.
LINT_FINDINGS = {
    "iss_missing": ("The registration request does not say who the client is (iss).", _INTERNAL),
    "sub_not_iss": ("The registration request's sub differs from its iss.", _INTERNAL),
    "iss_not_client_uri": ("The registration request names the client {actual}, not the client URI {expected}.",
                           _INTERNAL),
    "iss_not_in_certificate": ("Your certificate does not contain the client URI {iss}, so the server will refuse "
                               "the request.",
                               "Correct the client URI in the profile to match the certificate, or ask the CA to "
                               "reissue the certificate with this exact URI."),
    "aud_missing": ("The registration request does not name the server it is for (aud).", _INTERNAL),
    "aud_not_string": ("The registration request's aud is not a single address.", _INTERNAL),
    "aud_not_registration_endpoint": ("The registration request is addressed to {actual}, not to the server's "
                                      "registration address {expected}.", _INTERNAL),
    "iat_missing": ("The registration request has no issue time (iat).", _INTERNAL),
    "iat_not_whole_seconds": ("The registration request's issue time is not in whole seconds.", _INTERNAL),
    "iat_in_future": ("The registration request is dated {seconds} seconds in the future.",
                      "Check this computer's date and time, then try again."),
    "exp_missing": ("The registration request has no expiry time (exp).", _INTERNAL),
    "exp_not_whole_seconds": ("The registration request's expiry time is not in whole seconds.", _INTERNAL),
    "statement_expired": ("The registration request has already expired.",
                          "Check this computer's date and time, then prepare the request again."),
    "exp_not_after_iat": ("The registration request expires before it is issued.", _INTERNAL),
    "lifetime_too_long": ("The registration request is valid for {seconds} seconds; at most {limit} are allowed.",
                          _INTERNAL),
    "jti_missing": ("The registration request has no unique identifier (jti).", _INTERNAL),
    "jti_too_short": ("The registration request's unique identifier is too short ({bits} bits, at least {minimum}).",
                      _INTERNAL),
    "jti_not_random": ("The registration request's unique identifier does not look random.", _INTERNAL),
    "client_name_missing": ("The client name is empty.", "Fill in the client name in the organization details."),
    "auth_method_not_private_key_jwt": ("The registration request does not ask for signed-key client authentication "
                                        "(private_key_jwt).", _INTERNAL),
    "contacts_missing": ("No contact is given.", "Enter a contact e-mail address in the organization details."),
    "contacts_no_mailto": ("No contact is an e-mail address.",
                           "Enter a contact e-mail address in the organization details."),
    "contact_not_uri": ("The contact '{value}' is not written as a URI.",
                        "Write it as mailto:name@example.org or as an https address."),
    "scope_missing": ("No scope (kind of access) is requested.",
                      "Choose at least one scope from the server's list (CLI: --scope)."),
    "scope_not_supported": ("The server does not offer these scopes: {unsupported}.",
                            "Choose only scopes from the server's list: {supported}."),
    "grant_types_missing": ("The registration request does not say which kind of access it asks for.", _INTERNAL),
    "grant_type_unknown": ("The registration request asks for unknown kinds of access: {unknown}.", _INTERNAL),
    "grant_type_repeated": ("The registration request lists a kind of access twice.", _INTERNAL),
    "cancel_has_redirect_uris": ("The cancellation still carries redirect URIs.", _INTERNAL),
    "cancel_has_response_types": ("The cancellation still carries response types.", _INTERNAL),
    "cancel_has_logo_uri": ("The cancellation still carries a logo address.", _INTERNAL),
    "grant_types_both": ("One registration cannot ask for both client_credentials and authorization_code.",
                         "Register each kind of access with its own client URI."),
    "grant_types_no_main_grant": ("The registration request asks for neither client_credentials nor "
                                  "authorization_code.", _INTERNAL),
    "refresh_token_without_authorization_code": ("Refresh tokens are requested without authorization_code.",
                                                 _INTERNAL),
    "redirect_uris_missing": ("authorization_code access needs at least one redirect URI.",
                              "Enter the redirect URI of your app (CLI: --redirect-uri)."),
    "redirect_uri_not_https": ("The redirect URI {value} is not an https address.", "Use an https:// redirect URI."),
    "response_types_not_code": ("The registration request's response types are not exactly code.", _INTERNAL),
    "logo_uri_missing": ("authorization_code access needs a logo.",
                         "Enter the https address of a PNG, JPG or GIF logo (CLI: --logo-uri)."),
    "redirect_uris_not_allowed": ("Redirect URIs are only for authorization_code access.",
                                  "Remove the redirect URIs, or choose authorization_code (CLI: --grant)."),
    "response_types_not_allowed": ("Response types are only for authorization_code access.", _INTERNAL),
    "logo_uri_not_https": ("The logo address {value} is not an https address.", "Use an https:// address."),
    "logo_uri_not_image": ("The logo address {value} does not point at an image file.",
                           "Point it at a .png, .jpg or .gif file."),
    "alg_missing": ("The registration request does not say how it is signed.", _INTERNAL),
    "alg_not_supported_by_server": ("The server does not accept {alg} signatures; it accepts {supported}.",
                                    "Create a key of a type the server accepts (RSA works with every FAST server) and "
                                    "get a new certificate for it."),
    "x5c_missing": ("The registration request carries no certificate.", _INTERNAL),
    "x5c_unreadable": ("Your certificate could not be put into the registration request ({reason}).",
                       "Import your certificate again (the Certificate step)."),
    "x5c_includes_root": ("The registration request includes the root certificate {subject}.",
                          "Nothing to do; servers use their own copy of the root."),
    "statement_unreadable": ("The registration request that was sent cannot be read back.", _INTERNAL),
}

# Warnings of an accepted registration (registration.py): code -> (what it means, what to do next).
REGISTRATION_WARNINGS = {
    "unexpected_cancellation": ("The server cancelled the registration although you asked to register.",
                                "Register again; if it happens again, tell the server's operator."),
    "cancel_not_confirmed": ("The server did not confirm the cancellation.",
                             "Ask the server's operator whether the registration is cancelled."),
    "client_id_changed": ("The server gave a new client ID ({new}) instead of {previous}.",
                          "Nothing to do: udap-onboard uses the new one from now on; the old one no longer works."),
    "statement_not_echoed": ("The server did not send back the registration request, as it should.",
                             "Usually harmless; tell the server's operator."),
    "echoed_statement_altered": ("The server sent back a registration request that differs from the one sent.",
                                 "Check the granted values; tell the server's operator."),
    "client_secret_ignored": ("The server sent a client secret; UDAP does not use one, so it was ignored and not "
                              "saved.", "Nothing to do."),
    "registration_access_token_ignored": ("The server sent a registration access token; UDAP does not use it, so it "
                                          "was not saved.", "Nothing to do."),
}

# Warnings of an issued access token (token.py): code -> (what it means, what to do next).
TOKEN_WARNINGS = {
    "token_type_not_bearer": ("The server issued a token that is not marked as a bearer token.",
                              "Tell the server's operator if FHIR requests with it fail."),
    "expires_in_missing": ("The server did not say how long the token is valid.",
                           "Nothing to do; request a new token when requests start to fail."),
    "expires_in_not_number": ("The server's token lifetime is not a number ({value}).",
                              "Nothing to do; request a new token when requests start to fail."),
    "expires_in_over_one_hour": ("The token is valid for {seconds} seconds, longer than the one hour allowed.",
                                 "Nothing to do here; tell the server's operator."),
    "scope_differs": ("The server granted different scopes from those requested.",
                      "Compare the requested and granted scopes; next time ask only for what was granted."),
}

# Hints attached to server failures (registration.py, token.py): code -> one sentence.
HINTS = {
    "server_may_require_rsa": "Your key is EC: this server may accept only RSA keys (make a profile with an RSA key).",
    "clock_ahead_of_server": "This computer's clock is {skew} s ahead of the server's; strict servers refuse a "
                             "statement issued 'in the future'. Set the clock right (automatic time) and try again.",
}

# Client URI warnings (csr.validate_client_uri): code -> one sentence.
CLIENT_URI_WARNINGS = {
    "http_scheme": "The client URI uses http; most communities expect https.",
    "trailing_slash": "The client URI ends with '/': use it exactly like this everywhere.",
    "uppercase_scheme_or_host": "The client URI has capital letters in its scheme or host; servers compare it exactly.",
}

# Discovery rows (discovery.py, printed by the CLI next to the check's title): reason -> one plain sentence.
DISCOVERY_REASONS = {
    # fetching /.well-known/udap
    "rejected": "The server did not pass the UDAP checks.",
    "bad_base_url": "The address is not a usable FHIR base URL.",
    "no_udap": "The server does not support UDAP.",
    "not_for_community": "The server has no UDAP support for this community.",
    "clock_skew": "This computer's clock differs from the server's.",
    "not_json": "The server's answer is not JSON.",
    "not_json_object": "The server's answer is not a JSON object.",
    "bad_url": "The address is not a usable web address.",
    "insecure_url": "The address uses plain http.",
    "bad_tls_anchor": "A TLS root certificate of the community cannot be used.",
    "tls_expired": "The server's HTTPS certificate has expired.",
    "tls_not_yet_valid": "The server's HTTPS certificate is not valid yet.",
    "tls_wrong_name": "The server's HTTPS certificate is for another name.",
    "tls_unknown_ca": "The server's HTTPS certificate is not from a trusted authority.",
    "tls_revoked": "The server's HTTPS certificate was revoked.",
    "tls_failed": "The secure connection could not be set up.",
    "timeout": "The server did not answer in time.",
    "dns_failed": "The server name could not be found.",
    "connect_failed": "No connection could be made.",
    "connection_lost": "The connection broke off.",
    "protocol_error": "The server's answer does not follow HTTP.",
    "bad_content_encoding": "The server's answer could not be decoded.",
    "request_failed": "The request failed.",
    "too_large": "The answer is unreasonably large.",
    "too_many_redirects": "The server redirected too many times.",
    "redirect_refused": "The server redirected to another place, which is not followed.",
    "http_status": "The server answered with an error status.",
    # the signed metadata token
    "legacy_signed_endpoints": "The server uses the old signed_endpoints instead of signed_metadata.",
    "signed_metadata_missing": "The metadata is not signed.",
    "signed_metadata_not_string": "The signed metadata is not a signed token.",
    "malformed": "The signed metadata is damaged.",
    "payload_not_object": "The signed metadata holds no JSON object.",
    "alg_missing": "The signed metadata does not say how it was signed.",
    "alg_forbidden": "The signed metadata uses a forbidden algorithm.",
    "alg_not_allowed": "The signed metadata uses an algorithm that is not accepted.",
    "alg_not_rs256": "The signed metadata is not signed with RS256, as the standard requires.",
    "algorithm_does_not_fit_key": "The signing algorithm does not fit the certificate's key.",
    "unsupported_key_type": "The signing certificate's key type cannot be checked.",
    "no_common_algorithm": "The server accepts no signing algorithm this app uses.",
    "x5c_missing": "The signed metadata carries no certificate.",
    "x5c_base64url": "A certificate in the signed metadata is encoded the wrong way.",
    "x5c_not_base64": "A certificate in the signed metadata cannot be read.",
    "x5c_bad_certificate": "A certificate in the signed metadata is damaged.",
    "bad_signature": "A signature does not verify.",
    # the signing certificate's chain
    "untrusted_chain": "The signing certificate could not be trusted.",
    "expired": "Something the server signed has expired.",
    "not_yet_valid": "The signing certificate is not valid yet.",
    "revoked": "The signing certificate was revoked.",
    "missing_intermediate": "A certificate between the server and the community is missing.",
    "untrusted_root": "The signing certificate does not come from this community.",
    "not_a_ca": "The certificate chain is broken.",
    "policy_rejected": "The certificate chain breaks a certificate rule.",
    "crl_unavailable": "The revocation list could not be downloaded.",
    "crl_stale": "The revocation list is out of date.",
    "crl_bad_signature": "The revocation list is not correctly signed.",
    "crl_wrong_issuer": "The revocation list belongs to another CA.",
    "no_crl_distribution_point": "The signing certificate names no revocation list.",
    "no_anchors": "The community has no trust anchor.",
    "unknown_revocation_mode": "The community's revocation setting is unknown.",
    "anchor_unreadable": "A trust anchor of the community cannot be read.",
    # claims
    "claim_missing": "Required items are missing from the signed metadata.",
    "claim_type": "Items of the signed metadata have the wrong type.",
    "issued_in_future": "The signed metadata is dated in the future.",
    "lifetime_over_one_year": "The signed metadata is valid for more than a year.",
    "iss_not_base_url": "The server's name differs from the address you entered.",
    "iss_not_in_san": "The server's certificate is not issued to the name it signs with.",
    "sub_not_iss": "The signed metadata names two different servers.",
    "endpoint_not_signed": "An address of the server is not signed.",
    "endpoint_mismatch": "A signed address differs from the unsigned one.",
    "endpoint_not_https": "A signed address is not https.",
    "signed_metadata_rejected": "The signed metadata failed the checks above.",
    # what the server supports
    "element_missing": "A required item is missing from the metadata.",
    "element_type": "An item of the metadata has the wrong type.",
    "udap_version_unsupported": "The server does not offer UDAP version 1.",
    "grant_type_not_supported": "The server does not offer this kind of access.",
    "profile_missing": "The server lacks required parts of UDAP.",
    "udap_authz_missing": "The server does not list udap_authz.",
    "private_key_jwt_missing": "The server does not accept signed-key client authentication.",
    "scopes_supported_missing": "The server does not list its scopes.",
    "extension_unsupported": "The server requires extensions this app cannot provide.",
    "hl7_b2b_not_listed": "The server does not list the hl7-b2b extension.",
    "certifications_required": "The server requires certifications this app cannot provide.",
}


# --- report items explained through MESSAGES ("domain.code"), like errors --------------------------

def _copy(domain: str, entries: dict, skip: tuple = ()) -> None:
    for code, pair in entries.items():
        if code not in skip:
            MESSAGES.setdefault(f"{domain}.{code}", pair)


_copy("trust", TRUST_REASONS, skip=("ok", "anchor"))  # a trust row -> "trust.<reason>"
_copy("certificate", CERTIFICATE_PROBLEMS)            # a certificate check result -> "certificate.<code>"
_copy("statement", LINT_FINDINGS)                     # a lint finding -> "statement.<code>"
# A failed fetch of /.well-known/udap is a discovery row whose reason is the network error's code.
_copy("discovery", {k.split(".", 1)[1]: v for k, v in MESSAGES.items() if k.startswith("network.")})
