"""Words of a text for ``query.match_terms`` (DP-S-8): "terms are normalized and tokenized
(case-insensitive; "donald Duck" → donald, duck), order-free, no phrase matching".

The words are the sparse models' own tokenizer (bert-base-uncased) up to, not including,
WordPiece: its normalizer (drop control characters, lowercase, strip accents, CJK characters
as words) and pre-tokenizer (split on whitespace and on each punctuation character). Stopping
before WordPiece keeps whole words, so a required term ``giga`` does not match a text saying
``gigafactory`` (WordPiece ``giga ##fact ##ory``). Punctuation is not a term.
``tests/unit/test_terms.py`` checks the split against the ``tokenizers`` library's
``BertNormalizer`` + ``BertPreTokenizer``; this module is plain Python so that every host
can run it without that library.
"""

from __future__ import annotations

import unicodedata


def words(text: str) -> list[str]:
    """The distinct words of ``text``, in order of first appearance."""
    return list(dict.fromkeys(t for t in bert_basic_tokens(text) if not _is_punctuation(t[0])))


def bert_basic_tokens(text: str) -> list[str]:
    """BERT's uncased normalizer and pre-tokenizer, punctuation tokens included."""
    chars = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            chars.append(" ")
        elif _is_cjk(cp):
            chars.extend((" ", ch, " "))
        else:
            chars.append(ch)
    lowered = "".join(c.lower() for c in chars)  # per character, as Rust does: no final-sigma rule
    normalized = "".join(c for c in unicodedata.normalize("NFD", lowered) if unicodedata.category(c) != "Mn")
    tokens: list[str] = []
    for chunk in normalized.split():
        word = ""
        for ch in chunk:
            if _is_punctuation(ch):
                if word:
                    tokens.append(word)
                    word = ""
                tokens.append(ch)
            else:
                word += ch
        if word:
            tokens.append(word)
    return tokens


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)
