"""Fast decoding for Llama-architecture explainers: a static KV cache and one CUDA graph.

``transformers``' ``generate`` launches thousands of small kernels per token and the CPU
paces them: for a 7B LM at a handful of sequences that, not memory bandwidth, sets the
speed. Here one decode step is written directly over the HF module's own weights
(RMSNorm, rotary embedding, attention over a pre-allocated cache with a length mask,
SwiGLU MLP), and every index it needs (position, cache column, output column, which rows
have stopped) lives in a device tensor that the step updates itself. Nothing in the step
waits for the CPU, so on CUDA it is captured once as a ``torch.cuda.CUDAGraph`` and
replayed per token; on CPU the same step runs eagerly.

    decoder = FastDecoder(merged_llama)          # LoRA merged first (merge_and_unload)
    tokens = decoder.generate(inputs_embeds=e, attention_mask=m, max_new_tokens=60,
                              stop_ids=[eos], pad_id=pad)  # -> [B, n] new token ids

Prompts are left-padded (as ``Explainer.batch`` makes them). Rows that emit a stop id
keep their slot and write ``pad_id`` afterwards, as ``generate`` does; the loop ends
early only when every row has stopped (checked every few tokens, the one CPU sync).

Imports only torch, so benchmarks can use it without the application's settings.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

_PROJECTIONS = (("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"), ("self_attn", "o_proj"),
                ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj"))
# Rope variants whose frequencies do not depend on the running sequence length: one table
# of cos/sin per position is then exact.
_STATIC_ROPE = {None, "default", "linear", "llama3", "yarn"}
# Shapes are bucketed on CUDA so a handful of captured graphs serve every turn.
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256)
_WIDTH_BUCKET = 32
_MAX_STOP_IDS = 8
# On CPU, MKL's sgemm multiplies 2 or 3 rows by a weight matrix much more slowly than 4
# (a SmolLM2 decode step: ~1.6x, the LM head ~2x, measured on the 2-core AVX-512 machine);
# a turn's 3 picks are therefore decoded as 4 rows, the extra one stopped from the start.
_CPU_MIN_ROWS = 4


def unsupported_reason(model: nn.Module) -> str | None:
    """Why ``FastDecoder`` cannot run ``model``, or None when it can."""
    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) != "llama":
        return f"model type {getattr(config, 'model_type', None)!r} is not 'llama'"
    inner = getattr(model, "model", None)
    if inner is None or not hasattr(inner, "layers") or not hasattr(model, "lm_head"):
        return "not a LlamaForCausalLM-shaped module (model.layers, lm_head)"
    for layer in inner.layers:
        for parent, name in _PROJECTIONS:
            if type(getattr(getattr(layer, parent), name)) is not nn.Linear:
                return f"{parent}.{name} is not a plain Linear (merge LoRA adapters first)"
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    rope_type = rope.get("rope_type", rope.get("type")) if isinstance(rope, dict) else None
    if rope_type not in _STATIC_ROPE:
        return f"rope type {rope_type!r} depends on the sequence length"
    if getattr(config, "sliding_window", None):
        return "sliding-window attention"
    return None


@dataclass
class _Layer:
    """References to one decoder layer's weights (not copies)."""

    ln1: Tensor
    ln1_eps: float
    ln2: Tensor
    ln2_eps: float
    q: nn.Linear
    k: nn.Linear
    v: nn.Linear
    o: nn.Linear
    gate: nn.Linear
    up: nn.Linear
    down: nn.Linear
    act: nn.Module
    # Fused projections for the decode step (one matrix product instead of three, and of
    # two): the module weights are rebound as views into these, so nothing is stored twice.
    qkv: Tensor | None = None
    qkv_bias: Tensor | None = None
    gate_up: Tensor | None = None
    gate_up_bias: Tensor | None = None

    @classmethod
    def of(cls, layer: nn.Module, fuse: bool = False) -> _Layer:
        a, m = layer.self_attn, layer.mlp
        out = cls(layer.input_layernorm.weight, _eps(layer.input_layernorm),
                  layer.post_attention_layernorm.weight, _eps(layer.post_attention_layernorm),
                  a.q_proj, a.k_proj, a.v_proj, a.o_proj, m.gate_proj, m.up_proj, m.down_proj, m.act_fn)
        if fuse:
            for names, group in ((("qkv", "qkv_bias"), (a.q_proj, a.k_proj, a.v_proj)),
                                 (("gate_up", "gate_up_bias"), (m.gate_proj, m.up_proj))):
                if len({lin.bias is None for lin in group}) == 1:  # else: separate products
                    weight, bias = _fuse(group)
                    setattr(out, names[0], weight)
                    setattr(out, names[1], bias)
        return out


def _fuse(linears: tuple[nn.Linear, ...]) -> tuple[Tensor, Tensor | None]:
    """Concatenate the linears' weights (and biases) and make each module's own a view into it."""
    weight = torch.cat([lin.weight.data for lin in linears])
    # Llama gives q/k/v one bias setting (attention_bias) and gate/up another (mlp_bias).
    bias = torch.cat([lin.bias.data for lin in linears]) if linears[0].bias is not None else None
    start = 0
    for lin in linears:
        end = start + lin.out_features
        lin.weight.data = weight[start:end]
        if lin.bias is not None:
            lin.bias.data = bias[start:end]
        start = end
    return weight, bias


def _eps(norm: nn.Module) -> float:
    return float(getattr(norm, "variance_epsilon", getattr(norm, "eps", 1e-6)))


def _linear(x: Tensor, layer: nn.Linear) -> Tensor:
    return F.linear(x, layer.weight, layer.bias)


def _rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """As LlamaRMSNorm: normalise in float32, scale in the model's dtype."""
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def _rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


@dataclass
class _State:
    """Everything one (batch, prompt width, new tokens) shape needs, allocated once.

    keys/values: per layer [B, kv_heads, L, head_dim]; cos/sin: [L, head_dim] per position;
    tok [B] (the token being fed), pos [B] (its position), cur [1] (its cache column),
    step [1] (output column), valid [B, L] (cache columns a row may attend to),
    finished [B], out [B, new]; stop [_MAX_STOP_IDS] (-1 = unused), pad [1], inv_temp [1].
    """

    width: int
    new: int
    sample: bool
    keys: list[Tensor]
    values: list[Tensor]
    cos: Tensor
    sin: Tensor
    tok: Tensor
    pos: Tensor
    cur: Tensor
    step: Tensor
    valid: Tensor
    finished: Tensor
    out: Tensor
    stop: Tensor
    pad: Tensor
    inv_temp: Tensor
    graph: object = None  # the captured decode step (CUDA), else None


class FastDecoder:
    """Greedy or sampled decoding of a (LoRA-merged) Llama-architecture causal LM.

    Weights are read from ``model`` when the decoder is built: build it after the model
    sits on its device in its final dtype. ``use_graphs`` defaults to True on CUDA;
    ``bucket_shapes`` (default: as ``use_graphs``) rounds the batch and prompt width up to a
    few sizes so that a handful of graphs serve every turn. ``max_shapes`` bounds how many
    cache/graph shapes are kept (each holds a KV cache). ``min_rows`` (default 4 on CPU, 1
    elsewhere) pads smaller batches with rows that start stopped. ``share_prefix`` (default
    True) runs the prompts' common first tokens (the system prompt) once in the prefill
    instead of once per row, and skips the left padding.
    """

    def __init__(self, model: nn.Module, *, use_graphs: bool | None = None, bucket_shapes: bool | None = None,
                 max_shapes: int = 4, fuse: bool | None = None, min_rows: int | None = None,
                 share_prefix: bool = True):
        reason = unsupported_reason(model)
        if reason:
            raise ValueError(f"FastDecoder cannot run this model: {reason}")
        config, inner = model.config, model.model
        self.model = model
        self.embed = inner.embed_tokens.weight
        self.fuse = self.embed.device.type == "cuda" if fuse is None else fuse
        self.layers = [_Layer.of(layer, self.fuse) for layer in inner.layers]
        self.norm, self.norm_eps = inner.norm.weight, _eps(inner.norm)
        self.lm_head = model.lm_head
        self.rotary = inner.rotary_emb
        attn = inner.layers[0].self_attn
        self.heads = config.num_attention_heads
        self.kv_heads = getattr(config, "num_key_value_heads", None) or self.heads
        self.head_dim = getattr(attn, "head_dim", None) or config.hidden_size // self.heads
        self.scaling = float(getattr(attn, "scaling", self.head_dim ** -0.5))
        self.device, self.dtype = self.embed.device, self.embed.dtype
        self.use_graphs = self.device.type == "cuda" if use_graphs is None else use_graphs
        self.bucket_shapes = self.use_graphs if bucket_shapes is None else bucket_shapes
        self.min_rows = (_CPU_MIN_ROWS if self.device.type == "cpu" else 1) if min_rows is None else min_rows
        self.share_prefix = share_prefix
        self.max_shapes = max_shapes
        self._states: OrderedDict[tuple, _State] = OrderedDict()

    def clear(self) -> None:
        """Drop every cached KV cache and graph (frees their memory)."""
        self._states.clear()

    # -- public ---------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, input_ids: Tensor | None = None, *, inputs_embeds: Tensor | None = None,
                 attention_mask: Tensor | None = None, max_new_tokens: int, stop_ids: Sequence[int] = (),
                 pad_id: int = 0, temperature: float = 0.0, seed: int | None = None,
                 check_every: int | None = None) -> Tensor:
        """New token ids [B, n] (n <= max_new_tokens; after a row's stop id, ``pad_id``).

        Give ``input_ids`` [B, T] or ``inputs_embeds`` [B, T, H], left-padded, with
        ``attention_mask`` [B, T] (1 = real token). ``temperature`` 0 is greedy; above 0
        samples (Gumbel-max) from the default generator, seeded by ``seed`` when given.
        ``check_every``: tokens between checks that every row has stopped (default 1 on
        CPU, 8 with graphs).
        """
        if inputs_embeds is None:
            if input_ids is None:
                raise ValueError("give input_ids or inputs_embeds")
            inputs_embeds = F.embedding(input_ids.to(self.device), self.embed)
        embeds = inputs_embeds.to(self.device, self.dtype)
        rows, width = embeds.shape[:2]
        mask = (torch.ones(rows, width, dtype=torch.bool, device=self.device) if attention_mask is None
                else attention_mask.to(self.device).bool())
        if not bool(mask[:, -1].all()):
            raise ValueError("prompts must be left-padded (the last column real for every row)")
        stop = list(dict.fromkeys(int(s) for s in stop_ids if s is not None))
        if len(stop) > _MAX_STOP_IDS:
            raise ValueError(f"at most {_MAX_STOP_IDS} stop ids")
        if max_new_tokens < 1:
            return torch.empty(rows, 0, dtype=torch.long, device=self.device)
        if self.bucket_shapes:  # pad to a bucket: extra rows repeat the last one, extra columns are masked
            batch = next((b for b in _BATCH_BUCKETS if b >= rows), rows)
            padded = -(-width // _WIDTH_BUCKET) * _WIDTH_BUCKET
            embeds = F.pad(embeds, (0, 0, padded - width, 0))
            mask = F.pad(mask, (padded - width, 0), value=False)
            if batch > rows:
                embeds = torch.cat([embeds, embeds[-1:].expand(batch - rows, -1, -1)])
                mask = torch.cat([mask, mask[-1:].expand(batch - rows, -1)])
        batch = max(embeds.shape[0], self.min_rows)
        state = self._state(batch, embeds.shape[1], max_new_tokens, temperature > 0)
        state.stop.fill_(-1)
        if stop:
            state.stop[: len(stop)] = torch.tensor(stop, device=self.device)
        state.pad.fill_(pad_id)
        state.inv_temp.fill_(1.0 / temperature if temperature > 0 else 1.0)
        check_every = check_every or (8 if self.use_graphs else 1)
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else [],
                                   enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            if self.share_prefix:
                self._prefill_packed(state, embeds, mask)
            else:
                self._prefill(state, _pad_rows(embeds, batch), _pad_rows(mask, batch))
            state.finished[rows:] = True  # padding rows: computed, never waited for
            done = 1
            while done < max_new_tokens:
                if done % check_every == 0 and bool(state.finished.all()):
                    break
                if state.graph is not None:
                    state.graph.replay()
                else:
                    self._step(state)
                done += 1
        return state.out[:rows, :done].clone()

    # -- shapes ---------------------------------------------------------------------------
    def _state(self, batch: int, width: int, new: int, sample: bool) -> _State:
        key = (batch, width, new, sample)
        if key in self._states:
            self._states.move_to_end(key)
            return self._states[key]
        while len(self._states) >= self.max_shapes:
            self._states.popitem(last=False)
        length = width + new
        dev = self.device
        cache = lambda: torch.zeros(batch, self.kv_heads, length, self.head_dim, dtype=self.dtype, device=dev)  # noqa: E731
        # The model's own rotary module makes the table, so its rope scaling applies.
        positions = torch.arange(length, device=dev)[None]
        cos, sin = self.rotary(torch.zeros(1, dtype=self.dtype, device=dev), positions)
        long = lambda *shape: torch.zeros(*shape, dtype=torch.long, device=dev)  # noqa: E731
        state = _State(
            width=width, new=new, sample=sample,
            keys=[cache() for _ in self.layers], values=[cache() for _ in self.layers],
            cos=cos[0].to(self.dtype), sin=sin[0].to(self.dtype),
            tok=long(batch), pos=long(batch), cur=long(1), step=long(1),
            valid=torch.zeros(batch, length, dtype=torch.bool, device=dev),
            finished=torch.zeros(batch, dtype=torch.bool, device=dev), out=long(batch, new),
            stop=torch.full((_MAX_STOP_IDS,), -1, dtype=torch.long, device=dev), pad=long(1),
            inv_temp=torch.ones(1, dtype=torch.float32, device=dev))
        if self.use_graphs and new > 1:
            state.graph = self._capture(state)
        self._states[key] = state
        return state

    def _capture(self, state: _State):
        """One decode step as a CUDA graph. The warm-up steps run on garbage state; every
        buffer they touch is rewritten by the next prefill."""
        stream = torch.cuda.Stream(device=self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._step(state)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._step(state)
        return graph

    # -- the model ------------------------------------------------------------------------
    def _logits(self, h: Tensor) -> Tensor:
        """Last hidden states [B, H] -> float32 logits [B, V]."""
        return _linear(_rms_norm(h, self.norm, self.norm_eps), self.lm_head).float()

    def _choose(self, state: _State, logits: Tensor) -> None:
        """Pick each row's next token, mask stopped rows, record it, feed it back."""
        if state.sample:
            u = torch.rand_like(logits).clamp_(min=1e-20)
            logits = logits * state.inv_temp - torch.log(-torch.log(u))
        nxt = logits.argmax(-1)
        nxt = torch.where(state.finished, state.pad, nxt)
        state.finished |= (nxt[:, None] == state.stop[None]).any(-1)
        state.out.index_copy_(1, state.step, nxt[:, None])
        state.tok.copy_(nxt)
        state.step.add_(1)

    def _prefill(self, state: _State, embeds: Tensor, mask: Tensor) -> None:
        """Run the prompts (eagerly), fill the cache, choose the first new token."""
        batch, width, _ = embeds.shape
        group = self.heads // self.kv_heads
        pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
        cos, sin = state.cos[pos][:, None], state.sin[pos][:, None]  # [B, 1, T, D]
        allowed = torch.ones(width, width, dtype=torch.bool, device=self.device).tril()[None] & mask[:, None, :]
        # Padding rows attend to themselves only: no row is fully masked (NaN), none is used.
        allowed = (allowed | torch.eye(width, dtype=torch.bool, device=self.device)[None])[:, None]
        x = embeds
        for i, layer in enumerate(self.layers):
            h = _rms_norm(x, layer.ln1, layer.ln1_eps)
            q = _linear(h, layer.q).view(batch, width, self.heads, self.head_dim).transpose(1, 2)
            k = _linear(h, layer.k).view(batch, width, self.kv_heads, self.head_dim).transpose(1, 2)
            v = _linear(h, layer.v).view(batch, width, self.kv_heads, self.head_dim).transpose(1, 2)
            q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
            state.keys[i][:, :, :width] = k
            state.values[i][:, :, :width] = v
            attn = F.scaled_dot_product_attention(q, k.repeat_interleave(group, 1), v.repeat_interleave(group, 1),
                                                  attn_mask=allowed, scale=self.scaling)
            x = x + _linear(attn.transpose(1, 2).reshape(batch, width, -1), layer.o)
            h = _rms_norm(x, layer.ln2, layer.ln2_eps)
            x = x + _linear(layer.act(_linear(h, layer.gate)) * _linear(h, layer.up), layer.down)
        state.valid.zero_()
        state.valid[:, :width] = mask
        state.finished.zero_()
        state.out.copy_(state.pad.expand_as(state.out))
        state.step.zero_()
        state.pos.copy_(mask.sum(-1))
        state.cur.fill_(width)
        self._choose(state, self._logits(x[:, -1]))

    def _prefill_packed(self, state: _State, embeds: Tensor, mask: Tensor) -> None:
        """As ``_prefill``, but the rows' real tokens run as one packed sequence [1, S]: the
        prefix every row shares once, then each row's own tokens, each attending to the prefix
        and to itself only. Left padding costs nothing, and the cache is laid out as
        ``_prefill`` lays it out (row i's tokens in its last n_i columns). Rows of the state
        beyond ``embeds``' are left empty (the caller marks them stopped)."""
        rows, width, _ = embeds.shape
        dev = self.device
        lengths = mask.sum(-1).tolist()
        starts = [width - n for n in lengths]
        prefix = _common_prefix(embeds, starts, lengths)
        # Packed index of row i's j-th real token: j within the prefix, else its own segment.
        offsets, total = [], prefix
        for n in lengths:
            offsets.append(total - prefix)
            total += n - prefix
        segment = torch.full((total,), -1, dtype=torch.long, device=dev)
        positions = torch.arange(total, device=dev)
        pieces = [embeds[0, starts[0]:starts[0] + prefix]]
        source = torch.zeros(rows, width, dtype=torch.long, device=dev)  # cache column -> packed index
        for i, (start, n, off) in enumerate(zip(starts, lengths, offsets, strict=True)):
            pieces.append(embeds[i, start + prefix:])
            segment[off + prefix:off + n] = i
            positions[off + prefix:off + n] = torch.arange(prefix, n, device=dev)
            source[i, start:start + prefix] = torch.arange(prefix, device=dev)
            source[i, start + prefix:] = torch.arange(off + prefix, off + n, device=dev)
        x = torch.cat(pieces)[None]  # [1, S, H]
        idx = torch.arange(total, device=dev)
        allowed = ((idx[:, None] >= idx[None, :])
                   & ((segment[:, None] == segment[None, :]) | (segment[None, :] == -1)))[None, None]
        cos, sin = state.cos[positions][None, None], state.sin[positions][None, None]  # [1, 1, S, D]
        group = self.heads // self.kv_heads
        real = mask[:, None, :, None]  # [rows, 1, T, 1]
        for i, layer in enumerate(self.layers):
            h = _rms_norm(x, layer.ln1, layer.ln1_eps)
            q = _linear(h, layer.q).view(1, total, self.heads, self.head_dim).transpose(1, 2)
            k = _linear(h, layer.k).view(1, total, self.kv_heads, self.head_dim).transpose(1, 2)
            v = _linear(h, layer.v).view(1, total, self.kv_heads, self.head_dim).transpose(1, 2)
            q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
            # [KV, rows, T, D] -> [rows, KV, T, D]; padding columns stay zero (and masked)
            state.keys[i][:rows, :, :width] = (k[0][:, source] * real.transpose(0, 1)).transpose(0, 1)
            state.values[i][:rows, :, :width] = (v[0][:, source] * real.transpose(0, 1)).transpose(0, 1)
            attn = F.scaled_dot_product_attention(q, k.repeat_interleave(group, 1), v.repeat_interleave(group, 1),
                                                  attn_mask=allowed, scale=self.scaling)
            x = x + _linear(attn.transpose(1, 2).reshape(1, total, -1), layer.o)
            h = _rms_norm(x, layer.ln2, layer.ln2_eps)
            x = x + _linear(layer.act(_linear(h, layer.gate)) * _linear(h, layer.up), layer.down)
        last = source[:, -1]  # every row's last real token sits in the last column
        batch = state.tok.shape[0]
        hidden = torch.zeros(batch, x.shape[-1], dtype=x.dtype, device=dev)
        hidden[:rows] = x[0, last]
        full = _pad_rows(mask, batch) if batch > rows else mask
        if batch > rows:
            full[rows:] = False
            full[rows:, -1] = True  # a stopped padding row attends to one (zero) column: no NaN
        state.valid.zero_()
        state.valid[:, :width] = full
        state.finished.zero_()
        state.out.copy_(state.pad.expand_as(state.out))
        state.step.zero_()
        state.pos.copy_(full.sum(-1))
        state.cur.fill_(width)
        self._choose(state, self._logits(hidden))

    def _step(self, state: _State) -> None:
        """Feed ``state.tok`` at ``state.pos`` into cache column ``state.cur``; choose the next.
        Only device tensors are read: the step can be captured and replayed."""
        batch = state.tok.shape[0]
        group = self.heads // self.kv_heads
        state.valid.index_fill_(1, state.cur, True)
        keep = state.valid[:, None, None, :]  # [B, 1, 1, L]
        cos, sin = state.cos.index_select(0, state.pos), state.sin.index_select(0, state.pos)  # [B, D]
        x = F.embedding(state.tok, self.embed)  # [B, H]
        for i, layer in enumerate(self.layers):
            h = _rms_norm(x, layer.ln1, layer.ln1_eps)
            if layer.qkv is not None:
                kv_width = self.kv_heads * self.head_dim
                q, k, v = F.linear(h, layer.qkv, layer.qkv_bias).split(
                    [self.heads * self.head_dim, kv_width, kv_width], dim=-1)
                q = q.reshape(batch, self.kv_heads, group, self.head_dim)
                k, v = k.reshape(batch, self.kv_heads, self.head_dim), v.reshape(batch, self.kv_heads, self.head_dim)
            else:
                q = _linear(h, layer.q).view(batch, self.kv_heads, group, self.head_dim)
                k = _linear(h, layer.k).view(batch, self.kv_heads, self.head_dim)
                v = _linear(h, layer.v).view(batch, self.kv_heads, self.head_dim)
            q = _rotate(q, cos[:, None, None], sin[:, None, None])
            k = _rotate(k, cos[:, None], sin[:, None])
            keys, values = state.keys[i], state.values[i]
            keys.index_copy_(2, state.cur, k[:, :, None])
            values.index_copy_(2, state.cur, v[:, :, None])
            scores = torch.matmul(q, keys.transpose(-1, -2)) * self.scaling  # [B, KV, G, L]
            probs = scores.masked_fill(~keep, float("-inf")).float().softmax(-1).to(q.dtype)
            attn = torch.matmul(probs, values)  # [B, KV, G, D]
            x = x + _linear(attn.reshape(batch, -1), layer.o)
            h = _rms_norm(x, layer.ln2, layer.ln2_eps)
            if layer.gate_up is not None:
                gate, up = F.linear(h, layer.gate_up, layer.gate_up_bias).chunk(2, dim=-1)
            else:
                gate, up = _linear(h, layer.gate), _linear(h, layer.up)
            x = x + _linear(layer.act(gate) * up, layer.down)
        self._choose(state, self._logits(x))
        state.pos.add_(1)
        state.cur.add_(1)


def _pad_rows(t: Tensor, rows: int) -> Tensor:
    """``t`` [B, ...] with its last row repeated up to ``rows`` rows."""
    if t.shape[0] >= rows:
        return t
    return torch.cat([t, t[-1:].expand(rows - t.shape[0], *t.shape[1:])])


def _common_prefix(embeds: Tensor, starts: list[int], lengths: list[int]) -> int:
    """How many first real tokens [B, T, H] every row has identical (so their keys and values
    are identical too)."""
    limit = min(lengths)
    if embeds.shape[0] == 1 or limit == 0:
        return 0
    first = embeds[0, starts[0]:starts[0] + limit]
    same = torch.ones(limit, dtype=torch.bool, device=embeds.device)
    for i in range(1, embeds.shape[0]):
        same &= (embeds[i, starts[i]:starts[i] + limit] == first).all(-1)
    differ = (~same).nonzero()
    return int(differ[0]) if len(differ) else limit
