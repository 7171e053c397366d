"""A tiny random Gemma 3 with a character tokenizer, saved as an HF folder: what tests load where
no real weights may be downloaded. One builder, so every test's model differs only in the
settings it names."""

from __future__ import annotations

from pathlib import Path


def save_char_tokenizer(path: Path) -> int:
    """Specials ``<pad> <bos> <eos> <unk>`` (ids 0-3), then newline and printable ASCII; returns the vocab size."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<bos>", "<eos>", "<unk>"]
    chars = ["\n"] + [chr(c) for c in range(32, 127)]
    vocab = {t: i for i, t in enumerate(specials + chars)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.decoder = decoders.Fuse()
    PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    ).save_pretrained(path)
    return len(vocab)


def build_tiny_gemma3(
    path: Path, *, layer_types: list[str], hidden: int = 32, head_dim: int = 16, sliding_window: int = 8,
    context: int = 512, seed: int = 0, architectures: bool = False,
) -> Path:
    """Random weights (``seed``); ``intermediate`` is twice ``hidden``; 2 heads, 1 KV head."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(
        vocab_size=save_char_tokenizer(path), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=len(layer_types), num_attention_heads=2, num_key_value_heads=1, head_dim=head_dim,
        sliding_window=sliding_window, layer_types=layer_types, max_position_embeddings=context,
        pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )
    if architectures:
        config.architectures = ["Gemma3ForCausalLM"]  # what vLLM reads to pick the model class
    torch.manual_seed(seed)
    Gemma3ForCausalLM(config).save_pretrained(path)
    return path
