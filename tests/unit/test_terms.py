"""The match_terms word split (``spruce.engine.terms``) against the ``tokenizers`` library's
BERT normalizer and pre-tokenizer, which the sparse models' tokenizer (bert-base-uncased) runs
before WordPiece (DP-S-8)."""

from __future__ import annotations

import pytest

from spruce.engine.terms import bert_basic_tokens, words

tokenizers = pytest.importorskip("tokenizers")

TEXTS = [
    "Tesla stock surged 8% in after-hours trading following strong Q4 earnings.",
    "donald Duck",
    "Café déjà vu — naïve résumé, Ångström!",
    "e-mail: someone@example.com (U.S.A.)\tnew\nline\r\x00ctrl\x07",
    "北京欢迎你 and 東京",
    "Don't stop; it's 3.14 o'clock… “quoted” «guillemets» ¿qué?",
    "   ",
    "ＦＵＬＬ width and ΣΊΣΥΦΟΣ Greek",
]


@pytest.mark.parametrize("text", TEXTS)
def test_split_equals_bert_normalizer_and_pre_tokenizer(text):
    normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
    pre = tokenizers.pre_tokenizers.BertPreTokenizer()
    expected = [w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text))]
    assert bert_basic_tokens(text) == expected


def test_words_are_distinct_lowercase_and_without_punctuation():
    assert words("donald Duck") == ["donald", "duck"]
    assert words("Tesla, tesla! TESLA stock.") == ["tesla", "stock"]
    assert words("after-hours") == ["after", "hours"]
    assert words("...!?") == []
