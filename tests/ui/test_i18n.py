"""Every string the consoles show exists in Bahasa Indonesia and in English."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web" / "src"
KEY = re.compile(r"^\s*'([a-z0-9_.]+)':", re.MULTILINE)
USED = re.compile(r"\bt\('([a-z0-9_.]+)'")


def keys(lang: str) -> set[str]:
    return set(KEY.findall((WEB / "i18n" / f"{lang}.js").read_text()))


def test_both_dictionaries_have_the_same_keys() -> None:
    assert keys("id") == keys("en")


def test_every_literal_key_the_code_uses_is_in_the_dictionary() -> None:
    used = {k for path in WEB.rglob("*.js") for k in USED.findall(path.read_text())}
    assert used, "no t('...') calls found"
    assert used - keys("id") == set()
