"""The answer tokens "1" and "2" are resolved from the labeler's own tokenizer."""

import pytest

from pipeline.labeling.engine import answer_token_ids


def test_the_bundled_tokenizer_answers_with_tokens_33_and_34(tokenizer):
    assert answer_token_ids(tokenizer, "Preferred Response=") == [[33], [34]]
    # " 1" is two tokens for this tokenizer, so only the bare digit is an answer token
    assert tokenizer.encode(" 1", add_special_tokens=False) == [216, 33]


class SpacedDigits:
    """A SentencePiece-like tokenizer: "1" and "▁1" are both single tokens."""

    vocab = {"=": 5, "1": 11, "2": 12, " 1": 21, " 2": 22}

    def encode(self, text, add_special_tokens=False):
        out, i = [], 0
        while i < len(text):
            if text[i] == " " and text[i : i + 2] in self.vocab:
                out.append(self.vocab[text[i : i + 2]])
                i += 2
            else:
                out.append(self.vocab.get(text[i], 99))
                i += 1
        return out


def test_a_tokenizer_with_single_token_spaced_digits_gets_both_spellings_summed():
    assert answer_token_ids(SpacedDigits(), "=") == [[11, 21], [12, 22]]


def test_answers_that_share_a_token_are_rejected():
    class Same(SpacedDigits):
        vocab = {"=": 5, "1": 11, "2": 11}

    with pytest.raises(ValueError, match="share a token"):
        answer_token_ids(Same(), "=")
