"""Adding a trust community in the wizard: the anchor's fingerprint is shown and compared before saving."""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding

from app.ui.steps import page_id
from app.ui.pages.community import NEW_KEY
from tests.pki import make_community


def choose_new(w):
    w.next()
    page = w.currentPage()
    assert w.currentId() == page_id("COMMUNITY")
    rows = [page.list.item(i).data(256) for i in range(page.list.count())]
    assert rows[0] == "__practice__" and page.list.currentRow() == 0  # the practice community is preselected
    page.list.setCurrentRow(rows.index(NEW_KEY))
    assert page.new_form.isVisible() and not page.isComplete()
    return page, page.new_form


def test_new_community_shows_and_compares_the_fingerprint(real_wizard):
    w = real_wizard
    page, form = choose_new(w)
    com = make_community()
    form.name.setText("Regional network")
    form.uri.setText("urn:oid:1.2.3.4")
    form.anchor.setPlainText("Here is our anchor:\n" + com.root.cert.public_bytes(Encoding.PEM).decode())
    fp = form.fingerprints[0]
    assert fp in form.fingerprint.text() and "Test Root CA" in form.fingerprint.text()
    assert page.isComplete()  # comparing is recommended, not forced
    form.published.setText(fp[:-2] + ("00" if not fp.endswith("00") else "11"))
    assert "Does not match" in form.match.text() and not page.isComplete()
    form.published.setText(fp.replace(":", "").lower())  # people paste it in any shape
    assert "Matches" in form.match.text() and page.isComplete()
    form.servers.setPlainText("https://fhir.region.example/r4\n\n")
    w.next()
    assert w.currentId() == page_id("ORGANIZATION"), page.banner.plain_text()
    saved = w.ctx.session.communities.get("Regional network")
    assert saved.uri == "urn:oid:1.2.3.4" and saved.anchor_fingerprints() == [fp]
    assert saved.servers == ["https://fhir.region.example/r4"] and w.ctx.community == "Regional network"


def test_a_wrong_anchor_is_explained_and_stops_next(real_wizard, tmp_path):
    w = real_wizard
    page, form = choose_new(w)
    form.name.setText("Net")
    form.uri.setText("urn:example:net")
    form.anchor.setPlainText("-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----")
    assert form.fingerprint.text().startswith("✗") and not page.isComplete()
    leaf = tmp_path / "leaf.der"
    leaf.write_bytes(make_community().leaf.cert.public_bytes(Encoding.DER))
    form.load_anchor_file(str(leaf))
    assert "not a certificate authority" in form.fingerprint.text()
    assert page.isComplete()  # the core has the last word, with a full explanation
    w.next()
    assert w.currentId() == page_id("COMMUNITY")
    assert page.banner.kind == "error" and "anchor" in page.banner.plain_text().lower()
    assert "Net" not in w.ctx.session.communities.names()
    form.load_anchor_file(str(tmp_path / "missing.pem"))
    assert "cannot be read" in form.fingerprint.text() and not page.isComplete()
