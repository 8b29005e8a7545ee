"""The reward head reads the last real token, whatever the padding (pad == EOS in the bundled tokenizer)."""

import pytest
import torch

from pipeline.reward.model import RewardModel, last_token_index, pool_last
from pipeline.tokens import pad_left, pad_right


def test_right_padding_gives_the_index_before_the_first_pad():
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    assert last_token_index(mask).tolist() == [2, 4, 0]
    assert last_token_index(mask).tolist() == (mask.sum(-1) - 1).tolist()


def test_left_padding_gives_the_last_column():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]])
    assert last_token_index(mask).tolist() == [4, 4, 4]


def test_a_real_eos_token_at_the_end_is_pooled_not_skipped():
    # The text ends with EOS (id 2) and is padded with the same id: only the mask tells them apart.
    ids = torch.tensor([[5, 6, 2, 2, 2]])
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    hidden = torch.arange(5).float().view(1, 5, 1)
    assert pool_last(hidden, mask).item() == 2.0  # the EOS position, not the first "pad"
    assert ids[0, last_token_index(mask)[0]] == 2


@pytest.fixture(scope="module")
def tiny_rm(tiny_model_dir, artifact_root):
    torch.manual_seed(0)
    return RewardModel.from_pretrained(str(tiny_model_dir), artifact_root, device="cpu").eval()


def test_scores_do_not_depend_on_padding_side_or_amount(tiny_rm):
    tok = tiny_rm.tokenizer
    rows = [tok("a short one")["input_ids"] + [tok.eos_token_id],
            tok("a much longer text that needs no padding at all")["input_ids"] + [tok.eos_token_id]]
    with torch.no_grad():
        right = tiny_rm(*pad_right(rows, tok.pad_token_id, tiny_rm.device))
        left = tiny_rm(*pad_left(rows, tok.pad_token_id, tiny_rm.device))
        alone = torch.cat([tiny_rm(*pad_right([r], tok.pad_token_id, tiny_rm.device)) for r in rows])
    torch.testing.assert_close(right, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(left, alone, atol=1e-5, rtol=1e-5)


def test_a_pairs_shared_context_scored_once_gives_the_same_scores(tiny_rm):
    encoded = [tiny_rm.encode_pair("Human: hi there", "Hello! How can I help?", "Go away."),
               tiny_rm.encode_pair("Human: a longer question about the weather today?", "Sunny.", "I cannot know that, sorry.")]
    with torch.no_grad():
        shared = tiny_rm.pair_scores(encoded, share_prefix=True)
        plain = tiny_rm.pair_scores(encoded, share_prefix=False)
    for a, b in zip(shared, plain):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
