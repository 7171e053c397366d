"""Synchronous model work for the local backend: prefix prefill, batched decoding, scoring.

Batched rows share one prompt prefix (the passage). Each row's own suffix is left-padded *after*
the prefix, so the layout is ``[prefix][pad…][suffix_i][generated…]``; masks hide the pads and
position ids skip them, so every row sees exactly ``prefix + suffix_i``.

The default path (``growing_cache``) keeps the prefix's KV where the prefix cache holds it and
attends to it by reference for every row (``prefix_attention.py``); the batch's cache holds only
the rows' own tokens, in buffers that grow in place (``kv_cache.py``). Masks come from each key's
real position (``kpos``: -1 for a pad), so sliding-window layers see the window by position.

Past the passage, each call's own tokens keep their KV in the turn cache (``turn_cache.py``): a
later call copies the longest run of leading tokens it shares with one into its rows, and rows of
a batch that share a stem get it prefilled once, so a debate prefills its transcript once.

``growing_cache=False`` is transformers' own path (a DynamicCache copied per row, SDPA), kept as
the reference the tests compare against. There transformers applies a sliding window by cache
*index*, and its sliding layers keep only the last ``window - 1`` entries, so with pads in the
middle the batch's copy keeps every key on those layers and the engine builds the 4-D masks.
"""

from __future__ import annotations

import logging
import warnings
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from debate.experts.tokens import encode as encode_ids, load_tokenizer
from debate.experts.local.moe import attach_routing
from debate.experts.local.adapters import AdapterSet
from debate.experts.local.kv_cache import batch_cache, compact
from debate.experts.local import packed_linear, prefix_attention, scoring
from debate.experts.local.device import pick_device, pick_dtype
from debate.experts.local.sampling import first_stop, sample, torch_seed
from debate.experts.local.prefix_cache import CachedPrefix, PrefixCache
from debate.experts.local.reference_mask import reference_mask
from debate.experts.local.turn_cache import CachedTurn, TurnCache, copy_turns, reuse_cut, row_kv, shared_stems

log = logging.getLogger(__name__)


STEM_TOKENS = 16
"""A run several rows of a batch share is prefilled once when it is this many tokens past their matches."""


class ContextExceeded(ValueError):
    """The prompt (plus the tokens asked for) does not fit the model's context window."""


@dataclass
class Row:
    """One generation request inside a batch."""

    suffix: str
    max_tokens: int
    temperature: float = 0.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    adapter: str | None = None
    """LoRA expert for this row (``AdapterSet``); rows of one batch may each use a different one."""


@dataclass
class RowResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    meta: dict[str, Any] = field(default_factory=dict)
    """``moe``: the row's expert routing (MoE models; :mod:`debate.experts.local.moe`)."""


class Engine:
    def __init__(
        self,
        path: str | Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        gguf_file: str | None = None,
        prefix_cache_entries: int = 8,
        prefill_chunk: int = 1024,
        library: str | Path | None = None,
        growing_cache: bool = True,
        pack_weights: bool = True,
        forward_tokens: int = 2048,
        turn_cache_mb: int = 64,
    ) -> None:
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the run has its own progress bar
        warnings.filterwarnings("ignore", message=r".*past_key_values.*deprecated", category=FutureWarning)

        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        t0 = time.perf_counter()
        kw: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
        self.tokenizer = load_tokenizer(path, **kw)
        self.model = AutoModelForCausalLM.from_pretrained(str(path), dtype=self.dtype, **kw).to(self.device)
        self.model.eval()
        self.moe = attach_routing(self.model)  # MoE models: routing counts and expert ablations
        self.adapters = AdapterSet.load(self.model, Path(path), library, self.device) if library is not None else AdapterSet()
        self.packed = pack_weights and packed_linear.available(self.device) and packed_linear.pack(self.model) > 0
        """CPU: linear layers run on oneDNN over reordered weights (``packed_linear.py``)."""
        self.load_seconds = time.perf_counter() - t0
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        if self.tokenizer.eos_token_id is not None:
            eos_ids.add(self.tokenizer.eos_token_id)
        self.eos_ids = eos_ids
        self.context_window = int(getattr(self.model.config, "max_position_embeddings", 8192))
        text_config = self.model.config.get_text_config()
        sliding = "sliding_attention" in (getattr(text_config, "layer_types", None) or [])
        self.sliding_window: int | None = text_config.sliding_window if sliding else None
        self.prefixes = PrefixCache(prefix_cache_entries)
        self.turns = TurnCache(turn_cache_mb << 20)
        """KV of earlier calls past the passage (``turn_cache.py``); 0 MB: off."""
        self.reuse = True
        """False: every call prefills its whole prompt, passage included, and nothing is kept
        (the baseline ``bench/prefix_reuse.py`` measures reuse against)."""
        self.prefilled_tokens = 0
        """Tokens that went through the model as prompt (passage prefills and rows' new tokens)."""
        self.prefill_chunk = prefill_chunk
        self.forward_tokens = forward_tokens
        """Most tokens (rows x columns) one forward of a batch's suffixes takes: wider batches are
        sliced, which bounds their activations (16 rows x 880 tokens: peak RSS 4.0 GB unsliced)."""
        self.growing_cache = growing_cache
        """Batches decode into preallocated KV buffers (``kv_cache.py``) instead of transformers'
        ``DynamicCache``, whose per-step ``torch.cat`` copies the whole cache; False: the latter."""

    # ---- tokens -------------------------------------------------------------------------
    def encode(self, text: str, *, bos: bool) -> list[int]:
        return encode_ids(self.tokenizer, text, bos=bos)

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text, bos=False))

    # ---- prefix -------------------------------------------------------------------------
    @torch.inference_mode()
    def prefix(self, text: str, adapter: str | None = None) -> CachedPrefix:
        """The KV state of BOS + ``text`` under ``adapter``, computed in chunks and kept in the LRU."""
        from transformers import DynamicCache

        key = PrefixCache.key(text, adapter) + self.moe.key
        hit = self.prefixes.get(key)
        if hit is not None:
            return hit
        ids = self.encode(text, bos=True)
        self.prefilled_tokens += len(ids)
        if len(ids) >= self.context_window:
            raise ContextExceeded(f"prefix is {len(ids)} tokens; the context window is {self.context_window}")
        cache = DynamicCache(config=self.model.config)
        tally = self.moe.tally(1)
        self.adapters.begin([adapter])
        for start in range(0, len(ids), self.prefill_chunk):
            chunk = torch.tensor([ids[start : start + self.prefill_chunk]], device=self.device)
            pos = torch.arange(start, start + chunk.shape[1], device=self.device).unsqueeze(0)
            # logits_to_keep=1: the LM head over a 262k vocabulary costs more than the layers.
            tally.step([0], prefix=None)
            self.model(input_ids=chunk, position_ids=pos, past_key_values=cache, use_cache=True, logits_to_keep=1)
        self.adapters.end()
        compact(cache)
        entry = CachedPrefix(ids=ids, cache=cache, key=key)
        self.moe.keep_prefix(entry, tally)
        self.prefixes.put(key, entry)
        return entry

    def _prefixes(self, text: str, adapters: list[str | None]) -> tuple[CachedPrefix, list[CachedPrefix] | None]:
        """The prefix under each row's adapter (an adapter changes the KV); None when all rows share one."""
        if not self.reuse:
            text = ""
        each = {a: self.prefix(text, a) for a in dict.fromkeys(adapters)}
        first = each[adapters[0]]
        return first, (None if len(each) == 1 else [each[a] for a in adapters])

    def _text_ids(self, prefix_text: str, text: str) -> list[int]:
        """A row's tokens after the prefix; without reuse the passage's tokens lead them, so every
        call prefills its whole prompt (the same tokens either way)."""
        ids = self.encode(text, bos=False)
        return ids if self.reuse else self.encode(prefix_text, bos=True)[1:] + ids

    def _reusing_turns(self, row_prefixes: list[CachedPrefix] | None) -> bool:
        # Adapter and MoE hooks see whole forwards of every token; rows of mixed adapters differ in KV.
        return (self.reuse and self.turns.enabled and self.growing_cache and row_prefixes is None
                and not self.adapters.entries and not self.moe.shape)

    def _plan(self, prefix: CachedPrefix, suffixes: list[list[int]], stems: bool) -> list[tuple[CachedTurn | None, int]]:
        """Per row, the turn-cache entry its leading tokens come from and how many; with
        ``stems``, runs that several rows share are prefilled first (once), so the rows match them."""
        if stems and len(suffixes) > 1:
            have = [self.turns.peek(prefix.key, s) for s in suffixes]
            todo = shared_stems(suffixes, have, STEM_TOKENS)
            if todo:
                # Only as much of each stem as the batch will take (``reuse_cut``), or it is prefilled for nothing.
                est = [max([h] + [min(len(t), len(s) - 1) for t in todo if s[: len(t)] == t]) for s, h in zip(suffixes, have)]
                cut = reuse_cut(est, [len(s) for s in suffixes])
                todo = [t[:cut] for t in todo if cut >= STEM_TOKENS]
            if todo:
                cache, ids, kpos, pos = self._batch_inputs(prefix, todo, stems=False)
                self._forward(cache, ids, kpos, pos)
                self._keep_turns(prefix, cache, kpos, range(len(todo)), todo)
        return [self.turns.match(prefix.key, s) for s in suffixes]

    def _keep_turns(self, prefix: CachedPrefix, cache: Any, kpos: torch.Tensor, rows: Any, tokens: list[list[int]]) -> None:
        """File the KV each row holds (its tokens past the prefix, pads left out) in the turn cache."""
        for b, toks in zip(rows, tokens):
            cols = torch.nonzero(kpos[b] >= 0).squeeze(1)
            if len(cols) <= len(toks):  # always: every real key has its token
                self.turns.put(prefix.key, toks[: len(cols)], row_kv(cache.layers, b, cols))

    def _batch_inputs(
        self, prefix: CachedPrefix, suffixes: list[list[int]], row_prefixes: list[CachedPrefix] | None = None, decode: int = 0,
        stems: bool = True, turns: bool = True,
    ) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The batch's cache, input ids, key positions (-1 for a pad) and query positions.

        ``row_prefixes`` (same text, different adapters) gives each row its own prefix KV;
        ``decode``: tokens to be generated, room the growing cache reserves up front. Leading
        tokens found in the turn cache are copied in, not computed: a row is then
        ``[pad][reused][pad][new]``, and only the new tokens are the forward's input.
        ``turns=False`` for callers that read logits at fixed columns of the whole sequence."""
        from transformers.cache_utils import DynamicLayer

        n, p = len(suffixes), len(prefix.ids)
        matches = self._plan(prefix, suffixes, stems) if turns and self._reusing_turns(row_prefixes) else [(None, 0)] * n
        c = reuse_cut([m[1] for m in matches], [len(x) for x in suffixes])
        matches = [(turn, min(k, c)) if k else (None, 0) for turn, k in matches]  # each row takes at most the cut
        plan = [k for _, k in matches]
        news = [s[r:] for s, r in zip(suffixes, plan)]
        width = max(len(s) for s in news)
        self.prefilled_tokens += sum(len(s) for s in news)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        kpos = torch.full((n, p + c + width), -1, dtype=torch.long)
        kpos[:, :p] = torch.arange(p)
        pos = torch.zeros((n, width), dtype=torch.long)
        for r, (s, reused) in enumerate(zip(news, plan)):
            pad = width - len(s)
            ids[r, pad:] = torch.tensor(s)
            pos[r, pad:] = torch.arange(p + reused, p + reused + len(s))
            kpos[r, p + c + pad :] = pos[r, pad:]
            kpos[r, p + c - reused : p + c] = torch.arange(p, p + reused)
        if self.growing_cache:
            # The prefix stays in the prefix cache; kpos covers only the rows' own keys.
            rows = [rp.cache for rp in row_prefixes] if row_prefixes is not None else None
            cache = batch_cache(prefix.cache, p, n, c + width + decode, rows)
            if c:
                copy_turns(cache.layers, matches, c)
            return cache, ids.to(self.device), kpos[:, p:].to(self.device), pos.to(self.device)
        cache = prefix.fork()
        if self.sliding_window is not None:
            # The prefix's last window - 1 keys are all any row needs from it; but from here on a
            # padded row needs more than window - 1 slots, so these layers must stop dropping keys.
            for i, layer in enumerate(cache.layers):
                if getattr(layer, "is_sliding", False) and layer.is_initialized:
                    keep = DynamicLayer()
                    keep.lazy_initialization(layer.keys, layer.values)
                    keep.keys, keep.values = layer.keys, layer.values
                    cache.layers[i] = keep
        if row_prefixes is not None:
            for i, layer in enumerate(cache.layers):
                if layer.is_initialized:
                    layer.keys = torch.cat([rp.cache.layers[i].keys for rp in row_prefixes])
                    layer.values = torch.cat([rp.cache.layers[i].values for rp in row_prefixes])
        elif n > 1:
            cache.batch_repeat_interleave(n)
        return cache, ids.to(self.device), kpos.to(self.device), pos.to(self.device)

    def _forward(self, cache: Any, ids: torch.Tensor, kpos: torch.Tensor, qpos: torch.Tensor, keep: int = 1) -> torch.Tensor:
        """Logits of the last ``keep`` positions of ``ids`` (queries at ``qpos``) over ``cache``.

        ``kpos``: positions of the keys the cache's rows hold plus the queries' own (the last
        ``qpos.shape[1]``; -1 marks a pad). With the growing cache these are the rows' own keys
        and the prefix is attended to by reference (``prefix_attention.py``); otherwise
        ``kpos`` starts with the prefix's keys."""
        if not self.growing_cache:
            return self.model(
                input_ids=ids, attention_mask=self._attention(cache, kpos, qpos), position_ids=qpos,
                past_key_values=cache, use_cache=True, logits_to_keep=keep,
            ).logits
        n, q = ids.shape
        step = max(1, self.forward_tokens // n)
        if q <= step or self.adapters.entries or self.moe.shape:  # adapter and MoE hooks see whole forwards
            return self._forward_rows(cache, ids, kpos, qpos, keep)
        # A wide batch (16 rows of a long transcript) goes in slices of columns, so its
        # activations stay ~forward_tokens tokens wide; each slice sees the keys before it.
        kept = []
        for a in range(0, q, step):
            b = min(q, a + step)
            k = min(b - a, keep - (q - b))  # this slice's share of the last ``keep`` positions
            logits = self._forward_rows(cache, ids[:, a:b], kpos[:, : kpos.shape[1] - (q - b)], qpos[:, a:b], max(1, k))
            if k > 0:
                kept.append(logits[:, -k:])
        return torch.cat(kept, dim=1)

    def _forward_rows(self, cache: Any, ids: torch.Tensor, kpos: torch.Tensor, qpos: torch.Tensor, keep: int) -> torch.Tensor:
        ctx = prefix_attention.PrefixAttention(cache.prefix, cache.prefix_len, qpos, kpos)
        with prefix_attention.active(self.model):
            return self.model(
                input_ids=ids, attention_mask=prefix_attention.placeholder_mask(*ids.shape, ids.device), position_ids=qpos,
                past_key_values=cache, use_cache=True, logits_to_keep=keep, debate_prefix=ctx,
            ).logits

    def _attention(self, cache: Any, kpos: torch.Tensor, qpos: torch.Tensor) -> Any:
        return reference_mask(self.model.config, self.dtype, self.sliding_window, cache, kpos, qpos)

    def _check_fits(self, prefix: CachedPrefix, suffix: list[int], extra: int) -> None:
        total = len(prefix.ids) + len(suffix) + extra
        if total > self.context_window:
            raise ContextExceeded(
                f"prompt is {len(prefix.ids) + len(suffix)} tokens plus {extra} to generate; "
                f"the context window is {self.context_window}"
            )

    # ---- generation ---------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, prefix_text: str, rows: list[Row]) -> list[RowResult]:
        prefix, row_prefixes = self._prefixes(prefix_text, [r.adapter for r in rows])
        suffixes = [self._text_ids(prefix_text, r.suffix) or [self.pad_id] for r in rows]
        keeping = self._reusing_turns(row_prefixes)
        for r, s in zip(rows, suffixes):
            self._check_fits(prefix, s, r.max_tokens)
        cache, ids, kpos, pos = self._batch_inputs(prefix, suffixes, row_prefixes, max(r.max_tokens for r in rows))
        self.adapters.begin([r.adapter for r in rows], kpos[:, -ids.shape[1]:] >= 0)
        tally = self.moe.tally(len(rows))
        tally.step(range(len(rows)), prompt=kpos[:, -ids.shape[1]:] >= 0)
        gens = [torch.Generator().manual_seed(torch_seed(r.seed)) for r in rows]
        out: list[list[int]] = [[] for _ in rows]
        finish = ["length"] * len(rows)
        texts = [""] * len(rows)
        live = list(range(len(rows)))  # original row index of each batch row
        logits = self._forward(cache, ids, kpos, pos)[:, -1, :]
        last_pos = pos[:, -1]
        while live:
            nxt = sample(logits, [rows[i] for i in live], [gens[i] for i in live])
            keep: list[int] = []
            for b, i in enumerate(live):
                tok = int(nxt[b])
                done = tok in self.eos_ids
                if not done:
                    out[i].append(tok)
                    texts[i] = self.tokenizer.decode(out[i], skip_special_tokens=True)
                    cut = first_stop(texts[i], rows[i].stop)
                    if cut is not None:
                        texts[i], done = texts[i][:cut], True
                if done:
                    finish[i] = "stop"
                elif len(out[i]) >= rows[i].max_tokens:
                    done = True
                if not done:
                    keep.append(b)
            if keeping and len(keep) < len(live):
                # A finished row's prompt and reply keep their KV for later calls (its last token was never fed).
                gone = [b for b in range(len(live)) if b not in keep]
                self._keep_turns(prefix, cache, kpos, gone, [suffixes[live[b]] + out[live[b]] for b in gone])
            if len(keep) < len(live):
                if not keep:
                    break
                idx = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(idx)
                self.adapters.select(idx)
                nxt, kpos, last_pos = nxt[idx], kpos[idx], last_pos[idx]
                live = [live[b] for b in keep]
            last_pos = last_pos + 1
            kpos = torch.cat([kpos, last_pos.unsqueeze(1)], dim=1)
            tally.step(live, generated=None)
            self.adapters.all_valid()
            logits = self._forward(cache, nxt.unsqueeze(1), kpos, last_pos.unsqueeze(1))[:, -1, :]
        self.adapters.end()
        return [
            RowResult(text=texts[i], prompt_tokens=len(prefix.ids) + len(suffixes[i]), completion_tokens=len(out[i]), finish_reason=finish[i],
                      meta={**({"moe": tally.trace(i, row_prefixes[i] if row_prefixes else prefix)} if self.moe.shape else {}), **self.adapters.meta(i)})
            for i in range(len(rows))
        ]

    # ---- scoring (``scoring.py``) ------------------------------------------------------------
    @torch.inference_mode()
    def score(
        self, prefix_text: str, prompts: list[str], continuations: list[list[str]], adapters: list[str | None] | None = None
    ) -> list[tuple[list[float], int]]:
        """Log-probability of each continuation after ``prefix + prompt``; rows batch together.

        Returns, per prompt, the log-probs and the number of prompt tokens processed (a
        :class:`~debate.experts.local.scoring.Scored` pair, whose ``meta["moe"]`` is the prompt's routing on an MoE model).
        """
        return scoring.score(self, prefix_text, prompts, continuations, adapters)

    @torch.inference_mode()
    def token_logprobs(
        self, prefix_text: str, prompt: str, text: str, k: int, adapter: str | None = None
    ) -> list[tuple[str, float, list[tuple[str, float]]]]:
        """OpenAI-style logprobs of ``text`` after ``prefix + prompt`` (``scoring.token_logprobs``)."""
        return scoring.token_logprobs(self, prefix_text, prompt, text, k, adapter)

    @torch.inference_mode()
    def embed(self, texts: list[str], batch: int = 16) -> list[list[float]]:
        """Mean-pooled last-layer hidden states of the base model (no adapter): what per-question
        routers compare with the experts' training centroids (``debate.training.centroid``)."""
        self.adapters.end()
        rows: list[list[float]] = []
        for i in range(0, len(texts), batch):
            enc = self.tokenizer(texts[i : i + batch], return_tensors="pt", padding=True, padding_side="right").to(self.device)
            h = self.model(**enc, output_hidden_states=True, logits_to_keep=1).hidden_states[-1].float()
            m = enc["attention_mask"].unsqueeze(-1).float()
            rows.extend(((h * m).sum(1) / m.sum(1)).cpu().tolist())
        return rows
