"""The fast decoder writes the same tokens as ``transformers``' generate (CPU, eager)."""

from __future__ import annotations

import pytest
import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

from core.explainer.fastdecode import FastDecoder, unsupported_reason

PAD = 0
EOS = 2
NEW = 12


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    # A wide initialisation makes the next-token choice clear-cut, so float rounding
    # differences between two correct implementations cannot flip a greedy pick.
    config = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         initializer_range=0.25, pad_token_id=PAD, bos_token_id=1, eos_token_id=EOS)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def left_padded(lengths: list[int], seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random prompts of ``lengths`` tokens, left-padded: ids [B, T], mask [B, T]."""
    gen = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.full((len(lengths), width), PAD, dtype=torch.long)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, width - n:] = torch.randint(3, 96, (n,), generator=gen)
        mask[row, width - n:] = 1
    return ids, mask


def hf_greedy(model, *, eos: int = EOS, **inputs) -> torch.Tensor:
    config = GenerationConfig(max_new_tokens=NEW, do_sample=False, pad_token_id=PAD, eos_token_id=eos)
    with torch.inference_mode():
        out = model.generate(**inputs, generation_config=config)
    return out[:, inputs["input_ids"].shape[1]:] if "input_ids" in inputs else out


def test_greedy_tokens_equal_generate_for_prompts_of_different_lengths():
    model = tiny_llama()
    ids, mask = left_padded([5, 11, 8, 1])
    expected = hf_greedy(model, input_ids=ids, attention_mask=mask)
    got = FastDecoder(model).generate(ids, attention_mask=mask, max_new_tokens=NEW, stop_ids=[EOS], pad_id=PAD)
    assert got.shape == (4, NEW)
    assert torch.equal(got, expected)


def test_stop_token_ends_a_row_with_padding_like_generate():
    model = tiny_llama()
    ids, mask = left_padded([6, 9, 3])
    free = hf_greedy(model, input_ids=ids, attention_mask=mask)
    eos = int(free[0, 3])  # a token row 0 writes mid-way: that row must stop there
    expected = hf_greedy(model, eos=eos, input_ids=ids, attention_mask=mask)
    got = FastDecoder(model).generate(ids, attention_mask=mask, max_new_tokens=NEW, stop_ids=[eos], pad_id=PAD)
    assert torch.equal(got, expected)
    assert got[0, 3] == eos and (got[0, 4:] == PAD).all()


def test_prompt_embeddings_as_the_explainer_passes_them():
    """The explainer swaps one prompt embedding for its music token: inputs_embeds path."""
    model = tiny_llama()
    ids, mask = left_padded([7, 4])
    embeds = model.get_input_embeddings()(ids).detach().clone()
    embeds[0, -3] = torch.randn(64, generator=torch.Generator().manual_seed(3))  # a soft token
    expected = hf_greedy(model, inputs_embeds=embeds, attention_mask=mask)
    got = FastDecoder(model).generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=NEW,
                                      stop_ids=[EOS], pad_id=PAD)
    assert torch.equal(got, expected)


def test_merged_lora_gives_the_unmerged_adapters_tokens():
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(5)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                           "up_proj", "down_proj"], init_lora_weights=False)
    peft_model = get_peft_model(tiny_llama(), config).eval()
    ids, mask = left_padded([3, 10, 6])
    unmerged = hf_greedy(peft_model, input_ids=ids, attention_mask=mask)
    assert not torch.equal(unmerged, hf_greedy(tiny_llama(), input_ids=ids, attention_mask=mask))  # LoRA matters
    assert unsupported_reason(peft_model.base_model.model) is not None  # adapters must be merged first
    merged = peft_model.merge_and_unload()
    got = FastDecoder(merged).generate(ids, attention_mask=mask, max_new_tokens=NEW, stop_ids=[EOS], pad_id=PAD)
    assert torch.equal(got, unmerged)


def test_sampling_repeats_with_a_seed():
    decoder = FastDecoder(tiny_llama())
    ids, mask = left_padded([5, 8])
    run = lambda seed: decoder.generate(ids, attention_mask=mask, max_new_tokens=NEW,  # noqa: E731
                                        temperature=1.0, seed=seed)
    assert torch.equal(run(7), run(7))
    assert not torch.equal(run(7), run(8))


def test_right_padding_and_other_architectures_are_refused():
    model = tiny_llama()
    ids, mask = left_padded([5, 8])
    with pytest.raises(ValueError, match="left-padded"):
        FastDecoder(model).generate(ids.flip(1), attention_mask=mask.flip(1), max_new_tokens=2)
    model.config.model_type = "gpt2"
    with pytest.raises(ValueError, match="llama"):
        FastDecoder(model)


def test_shape_buckets_pad_rows_and_columns_without_changing_tokens():
    """On CUDA, batches and prompt widths are rounded up so few graphs are captured."""
    model = tiny_llama()
    ids, mask = left_padded([5, 11, 8])  # 3 rows -> 4, width 11 -> 32
    expected = FastDecoder(model).generate(ids, attention_mask=mask, max_new_tokens=NEW, stop_ids=[EOS])
    bucketed = FastDecoder(model, bucket_shapes=True)
    assert torch.equal(bucketed.generate(ids, attention_mask=mask, max_new_tokens=NEW, stop_ids=[EOS]), expected)
    assert list(bucketed._states) == [(4, 32, NEW, False)]


def test_trained_explainer_says_the_same_with_the_fast_decoder(tiny_explainer, paper_settings, tmp_path):
    from core.explainer.model import Explainer

    from tests.explainer.conftest import make_context

    torch.manual_seed(1)
    for name, p in tiny_explainer.lm.named_parameters():
        if "lora_B" in name:  # a fresh adapter is zero: give it weight, as training would
            torch.nn.init.normal_(p, std=0.2)
    tiny_explainer.save(tmp_path / "ckpt", {})
    ctxs = [make_context(seed=5), make_context(preference="faster, with drums", seed=6)]
    plain = Explainer.load(paper_settings, tmp_path / "ckpt", fast=False)
    assert plain.decoder is None  # transformers' generate
    fast = Explainer.load(paper_settings, tmp_path / "ckpt")
    assert isinstance(fast.decoder, FastDecoder)  # the default, on CPU too
    assert fast.generate(ctxs, max_new_tokens=NEW) == plain.generate(ctxs, max_new_tokens=NEW)


def test_fused_projections_give_the_same_tokens_and_leave_the_model_intact():
    model = tiny_llama()
    ids, mask = left_padded([5, 11, 8, 1])
    expected = hf_greedy(model, input_ids=ids, attention_mask=mask)
    q_before = model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    decoder = FastDecoder(model, fuse=True)
    layer = decoder.layers[0]
    assert layer.qkv is not None and layer.gate_up is not None
    # The module weights are views into the fused matrices: same values, no second copy.
    q = model.model.layers[0].self_attn.q_proj.weight
    assert torch.equal(q, q_before) and q.data_ptr() == layer.qkv.data_ptr()
    got = decoder.generate(ids, attention_mask=mask, max_new_tokens=NEW, stop_ids=[EOS], pad_id=PAD)
    assert torch.equal(got, expected)
    assert torch.equal(hf_greedy(model, input_ids=ids, attention_mask=mask), expected)


@pytest.mark.parametrize("lengths", [[9, 14, 11], [7], [12, 12], [6, 13, 10, 8, 15]])
def test_shared_prefix_and_padding_rows_give_generates_tokens(lengths):
    """Prompts that share their first tokens (as every pick shares the system prompt) are
    prefilled as one packed sequence, and CPU batches are padded to 4 rows: same tokens."""
    model = tiny_llama()
    ids, mask = left_padded(lengths, seed=3)
    shared = torch.randint(3, 96, (5,), generator=torch.Generator().manual_seed(9))
    for row, n in enumerate(lengths):
        ids[row, ids.shape[1] - n:ids.shape[1] - n + 5] = shared
    expected = hf_greedy(model, input_ids=ids, attention_mask=mask)
    decoder = FastDecoder(model)
    assert decoder.min_rows == 4 and decoder.share_prefix
    got = decoder.generate(ids, attention_mask=mask, max_new_tokens=NEW, stop_ids=[EOS], pad_id=PAD)
    assert torch.equal(got, expected)
    assert list(decoder._states)[0][0] == max(4, len(lengths))  # rows in the cache
    plain = FastDecoder(model, min_rows=1, share_prefix=False)
    assert torch.equal(plain.generate(ids, attention_mask=mask, max_new_tokens=NEW, stop_ids=[EOS], pad_id=PAD),
                       expected)


def test_padding_rows_do_not_keep_decoding_after_the_real_rows_stop():
    model = tiny_llama()
    ids, mask = left_padded([5, 8])
    first = hf_greedy(model, input_ids=ids, attention_mask=mask)[:, :1]
    # Stop on each row's first token: both real rows stop at once, and so must the loop.
    out = FastDecoder(model).generate(ids, attention_mask=mask, max_new_tokens=NEW, stop_ids=first[:, 0].tolist())
    assert out.shape == (2, 1) and torch.equal(out, first)
