"""Study pseudonyms carry 64 bits: no collision among 20,000 studies (24 bits gave 12)."""

import re

from medadv_desktop.engine.io import deid


def test_pseudonyms_have_64_bits_and_do_not_collide(monkeypatch):
    monkeypatch.setenv("MEDADV_PSEUDONYM_SALT", "collision-test")
    names = {deid.pseudonym(f"1.2.826.0.1.3680043.2.{i}", f"1.2.826.0.1.3680043.3.{i}") for i in range(20000)}
    assert len(names) == 20000
    assert all(re.fullmatch(r"STUDY-[0-9A-F]{16}", n) for n in list(names)[:100])
    assert deid.PSEUDONYM_HEX_DIGITS * 4 >= 64
