"""GPU check: both model profiles at real size (random weights) and the explainer's decode paths.

    python3 bench/gpu.py [--budget-s 240] [--tiny] [--out PATH]

Measures, for batches of 1, 8 and 32 conversations (each number a median over repeated
runs after warm-up; CUDA events plus wall time after a synchronize):

* the explainer, 3 picks x 60 new tokens per turn: (a) ``generate`` with an unmerged LoRA,
  (b) ``generate`` after ``merge_and_unload``, (c) ``core.explainer.fastdecode`` (static
  KV cache, one CUDA graph per decode step) -- a 7B Llama (Vicuna-7B's shape) in bf16;
* the ``paper`` encoders (open_clip ViT-B-32 frames and text, AST base on 10 s windows) and
  the retriever at the paper profile's dimensions;
* the ``offline`` profile's models at their real sizes (EfficientNet-Lite0, MiniLM-L6,
  musicnn MTT + MSD, SmolLM2-135M explainer).

Then per profile: turn latency, turns/s per GPU and how many GPU workers serve 60, 600
and 6000 turns a minute. Weights are random (nothing is downloaded): the numbers are
speed and memory only. Runs without the application's settings (no pydantic or SQL
imports), so it needs only torch, transformers, peft, timm and numpy; open_clip when
present (else transformers' CLIP with the same ViT-B/32 shape, and the output says so).

Every stage records its error and the run goes on; after ``--budget-s`` seconds the
remaining stages are recorded as skipped. Results go to ``$OUT/gpu.json`` when ``$OUT`` is
set, else ``bench/results/gpu.json`` (rewritten after every stage). ``--tiny`` shrinks every
model so the whole script runs on a CPU in about a minute (tests use it).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

BATCHES = (1, 8, 32)  # conversations handled together
PICKS = 3  # explanations per turn
NEW_TOKENS = 60  # core.explainer.model.MAX_NEW_TOKENS
FRAMES = 12  # Settings.num_frames default
CATALOG = 10_000  # tracks scored per query
P95_TARGET_S = 2.0
UTILISATION = 0.7
# The explainer's adapter, as core.explainer.model.LoraSpec / LORA_TARGETS (a test keeps
# them equal; that module imports the application's settings, so it is not imported here).
LORA_R, LORA_ALPHA = 8, 16
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# Vicuna-7B v1.5 = Llama-2-7B's shape.
VICUNA_7B = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
                 rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=0)
# SmolLM2-135M-Instruct (the offline explainer's base; its checkpoint records hidden_size).
SMOLLM2_135M = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192,
                    rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True,
                    bos_token_id=1, eos_token_id=2, pad_token_id=2)
TINY_LLAMA = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  bos_token_id=1, eos_token_id=2, pad_token_id=0)
PREFERENCES = ["more upbeat, no vocals", "something calmer with piano", "darker, slower, strings please",
               "less electronic, more acoustic guitar"]


# --------------------------------------------------------------------------------------
# Recording
# --------------------------------------------------------------------------------------

class Run:
    """Stages, timing and the JSON file, with a global time budget."""

    def __init__(self, budget_s: float, tiny: bool, out: Path):
        self.t0 = time.monotonic()
        self.budget_s, self.tiny, self.out = budget_s, tiny, out
        self.cuda = torch.cuda.is_available()
        self.device = "cuda" if self.cuda else "cpu"
        self.warmup, self.reps = (1, 2) if tiny else (2, 7)
        self.gen_warmup, self.gen_reps = (1, 2) if tiny else (1, 3)
        self.data: dict = {
            "device": torch.cuda.get_device_name() if self.cuda else f"cpu ({platform.processor() or 'unknown'})",
            "versions": _versions(), "tiny": tiny, "budget_s": budget_s, "batches": list(BATCHES),
            "picks_per_turn": PICKS, "new_tokens": NEW_TOKENS, "frames_per_turn": FRAMES, "catalog": CATALOG,
            "notes": [], "stages": {}, "turns": {}, "capacity": {},
        }

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def over(self) -> bool:
        return self.elapsed() > self.budget_s

    def note(self, text: str) -> None:
        print(f"note: {text}", flush=True)
        self.data["notes"].append(text)
        self.save()

    def save(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str) + "\n")
        tmp.replace(self.out)

    def stage(self, name: str, fn: Callable[[], dict | None], **meta) -> dict | None:
        """Run one stage: skipped past the budget, errors recorded; returns its record."""
        record: dict = dict(meta)
        if self.over():
            record.update(status="skipped", reason=f"time budget of {self.budget_s:.0f} s spent")
            self.data["stages"][name] = record
            print(f"{name}: skipped (budget)", flush=True)
            self.save()
            return None
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        try:
            record.update(fn() or {})
            record["status"] = "ok"
        except Exception as exc:  # a GPU check runs once: record and go on
            record.update(status="error", error=f"{type(exc).__name__}: {exc}"[:800],
                          traceback=traceback.format_exc()[-2500:])
        record["stage_s"] = round(time.perf_counter() - start, 2)
        if self.cuda:
            record["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
            record["allocated_gib"] = round(torch.cuda.memory_allocated() / 2**30, 3)
        self.data["stages"][name] = record
        self.save()
        shown = {k: v for k, v in record.items() if k not in ("traceback", "runs_ms", "runs_gpu_ms")}
        print(f"[{self.elapsed():6.1f}s] {name}: {json.dumps(shown, default=str)}", flush=True)
        return record

    def time(self, fn: Callable[[], object], *, warmup: int | None = None, reps: int | None = None) -> dict:
        """Median wall ms (after a synchronize) and GPU-event ms of ``fn`` over ``reps`` runs."""
        warmup = self.warmup if warmup is None else warmup
        reps = self.reps if reps is None else reps
        for _ in range(warmup):
            fn()
        self.sync()
        wall, gpu = [], []
        for _ in range(reps):
            if self.cuda:
                begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                begin.record()
            t = time.perf_counter()
            fn()
            if self.cuda:
                end.record()
                end.synchronize()
                gpu.append(begin.elapsed_time(end))
            wall.append((time.perf_counter() - t) * 1000)
            if self.over():  # keep what is measured
                break
        out = {"ms": round(statistics.median(wall), 2), "runs_ms": [round(x, 2) for x in wall]}
        if gpu:
            out.update(gpu_ms=round(statistics.median(gpu), 2), runs_gpu_ms=[round(x, 2) for x in gpu])
        return out

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()


def _attempt(make: Callable[[], object]) -> object:
    """``make()``, or the exception it raised (recorded by the stages that need it)."""
    try:
        return make()
    except Exception as exc:  # noqa: BLE001 - one missing model must not cost the others
        return RuntimeError(f"{type(exc).__name__}: {exc}"[:500])


def _describe(made: object) -> str:
    return f"error: {made}" if isinstance(made, Exception) else type(made).__name__


def _ok(record: dict | None) -> bool:
    return bool(record) and record.get("status") == "ok"


def _versions() -> dict:
    out = {"python": platform.python_version(), "torch": torch.__version__,
           "cuda": torch.version.cuda if torch.cuda.is_available() else None}
    for name in ("transformers", "peft", "timm", "open_clip"):
        try:
            out[name] = __import__(name).__version__
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            out[name] = f"unavailable ({type(exc).__name__}: {exc})"[:200]
    return out


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------------------
# Explainer
# --------------------------------------------------------------------------------------

def build_llama(shape: dict, run: Run, dtype: torch.dtype):
    """A random Llama made directly on the device in ``dtype`` (seconds, even at 7B)."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(**shape)
    torch.manual_seed(0)
    with torch.device(run.device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.eval().requires_grad_(False)
    model.generation_config.eos_token_id = shape["eos_token_id"]
    model.generation_config.pad_token_id = shape["pad_token_id"]
    return model


def add_lora(model, r: int = LORA_R, alpha: int = LORA_ALPHA, targets=LORA_TARGETS):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.05, target_modules=list(targets), task_type="CAUSAL_LM")
    lm = get_peft_model(model, config).eval()
    torch.manual_seed(1)
    for name, p in lm.named_parameters():
        if "lora_B" in name:  # a trained adapter is not zero
            torch.nn.init.normal_(p, std=1e-3)
    return lm


class Prompts:
    """Left-padded explainer prompts as ``Explainer.batch`` makes them: embeddings [B, T, H]
    with one soft music token, and the attention mask [B, T]."""

    def __init__(self, lm, rows: int, lengths: tuple[int, int], seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        lo, hi = lengths
        lens = torch.randint(lo, hi + 1, (rows,), generator=gen)
        width = int(lens.max())
        vocab = lm.get_input_embeddings().weight.shape[0]
        ids = torch.randint(3, vocab, (rows, width), generator=gen)
        mask = torch.arange(width)[None] >= (width - lens)[:, None]
        device = lm.get_input_embeddings().weight.device
        with torch.no_grad():
            embeds = lm.get_input_embeddings()(ids.to(device))
            embeds[:, width - lo // 2] = embeds[:, width - lo // 2].flip(-1)  # stands in for the music token
        self.embeds, self.mask = embeds, mask.long().to(device)
        self.rows, self.width = rows, width


def hf_generate(lm, prompts: Prompts, eos: int, pad: int) -> torch.Tensor:
    from transformers import GenerationConfig

    config = GenerationConfig(max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=pad, eos_token_id=eos)
    with torch.inference_mode():
        return lm.generate(inputs_embeds=prompts.embeds, attention_mask=prompts.mask, generation_config=config)


def explainer_hf_stage(run: Run, lm, prompts: Prompts, eos: int, pad: int) -> dict:
    holder = {}
    timing = run.time(lambda: holder.__setitem__("out", hf_generate(lm, prompts, eos, pad)),
                      warmup=run.gen_warmup, reps=run.gen_reps)
    out = holder["out"]
    return {**timing, "sequences": prompts.rows, "prompt_width": prompts.width, "new_tokens": int(out.shape[1]),
            "ms_per_token": round(timing["ms"] / max(1, out.shape[1]), 2)}


def explainer_fast_stage(run: Run, decoder, prompts: Prompts, eos: int, pad: int, *,
                         reference: torch.Tensor | None = None, prefill: bool = True) -> dict:
    gen = lambda n=NEW_TOKENS: decoder.generate(inputs_embeds=prompts.embeds, attention_mask=prompts.mask,  # noqa: E731
                                                max_new_tokens=n, stop_ids=[eos], pad_id=pad)
    t = time.perf_counter()
    first = gen()  # allocates the cache and captures the graph for this shape
    run.sync()
    first_ms = (time.perf_counter() - t) * 1000
    holder = {}
    timing = run.time(lambda: holder.__setitem__("out", gen()), warmup=0, reps=run.gen_reps + 2)
    out = holder["out"]
    result = {**timing, "first_call_ms": round(first_ms, 1), "sequences": prompts.rows,
              "prompt_width": prompts.width, "new_tokens": int(out.shape[1]), "graphs": decoder.use_graphs,
              "deterministic": bool(torch.equal(first, out))}
    if prefill:
        pre = run.time(lambda: gen(1), warmup=1, reps=run.gen_reps + 2)
        result["prefill_ms"] = pre["ms"]
        steps = max(1, out.shape[1] - 1)
        result["ms_per_token"] = round((timing["ms"] - pre["ms"]) / steps, 3)
    if reference is not None:  # bf16 rounding differs from generate's kernels: agreement, not equality
        ref = reference[:, : out.shape[1]].to(out.device)
        same = (ref == out[:, : ref.shape[1]]).long()
        prefix = same.cumprod(1).sum(1).float()
        result["agrees_with_generate"] = {"first_token": round(float(same[:, 0].float().mean()), 3),
                                          "mean_matching_prefix": round(float(prefix.mean()), 1),
                                          "of_tokens": int(ref.shape[1])}
    return result


def fastdecode_check(run: Run) -> dict:
    """Fast decoder (graphs on CUDA) vs generate on a small fp32 Llama: tokens must be equal."""
    from core.explainer.fastdecode import FastDecoder

    shape = dict(TINY_LLAMA, initializer_range=0.25)
    model = build_llama(shape, run, torch.float32)
    prompts = Prompts(model, 5, (3, 17), seed=3)
    expected = hf_generate(model, prompts, eos=2, pad=0)[:, :24]
    decoder = FastDecoder(model)
    got = decoder.generate(inputs_embeds=prompts.embeds, attention_mask=prompts.mask, max_new_tokens=24,
                           stop_ids=[2], pad_id=0)
    n = min(got.shape[1], expected.shape[1])
    equal = bool(torch.equal(got[:, :n], expected[:, :n]))
    if not equal:
        raise AssertionError(f"fast decoder differs from generate: {got.tolist()} vs {expected.tolist()}")
    return {"equal_to_generate": equal, "graphs": decoder.use_graphs, "sequences": 5}


def paper_explainer(run: Run) -> dict:
    """Stages (a), (b), (c) of the 7B explainer for batches 1 and 8; returns the state for 32."""
    from core.explainer.fastdecode import FastDecoder

    shape = TINY_LLAMA if run.tiny else VICUNA_7B
    dtype = torch.bfloat16 if run.cuda else torch.float32
    lengths = (20, 40) if run.tiny else (120, 180)  # facts + quoted preference, Vicuna format
    eos, pad = shape["eos_token_id"], shape["pad_token_id"]
    state: dict = {}

    def build():
        t = time.perf_counter()
        state["base"] = build_llama(shape, run, dtype)
        run.sync()
        made = time.perf_counter() - t
        params = sum(p.numel() for p in state["base"].parameters())
        t = time.perf_counter()
        state["lm"] = add_lora(state["base"])
        run.sync()
        return {"params_b": round(params / 1e9, 3), "dtype": str(dtype), "build_s": round(made, 2),
                "lora_s": round(time.perf_counter() - t, 2), "lora": {"r": LORA_R, "alpha": LORA_ALPHA,
                                                                      "targets": list(LORA_TARGETS)}}

    if not _ok(run.stage("paper.explainer.build", build,
                         what=f"Llama {shape['hidden_size']}x{shape['num_hidden_layers']} + LoRA")):
        return state
    prompts = {b: Prompts(state["lm"], b * PICKS, lengths, seed=b) for b in BATCHES}
    meta = lambda b: {"batch": b, "what": f"{b * PICKS} sequences x {NEW_TOKENS} new tokens"}  # noqa: E731
    for b in (1, 8):
        run.stage(f"paper.explainer.hf_lora.b{b}", lambda b=b: explainer_hf_stage(run, state["lm"], prompts[b], eos, pad),
                  **meta(b))

    def merge():
        t = time.perf_counter()
        state["merged"] = state.pop("lm").merge_and_unload()
        run.sync()
        return {"merge_s": round(time.perf_counter() - t, 2)}

    if not _ok(run.stage("paper.explainer.merge", merge)):
        return state
    refs: dict = {}

    def merged(b):
        res = explainer_hf_stage(run, state["merged"], prompts[b], eos, pad)
        refs[b] = hf_generate(state["merged"], prompts[b], eos, pad)
        return res

    for b in (1, 8):
        run.stage(f"paper.explainer.hf_merged.b{b}", lambda b=b: merged(b), **meta(b))

    def fast(b, graphs: bool | None = None):
        decoder = state.get("decoder")
        if decoder is None or (graphs is not None and decoder.use_graphs != graphs):
            decoder = state["decoder"] = FastDecoder(state["merged"], use_graphs=graphs, max_shapes=2)
        return explainer_fast_stage(run, decoder, prompts[b], eos, pad, reference=refs.get(b), prefill=b < 32)

    for b in (1, 8):
        rec = run.stage(f"paper.explainer.fast.b{b}", lambda b=b: fast(b), **meta(b))
        if rec and rec["status"] == "error" and run.cuda:  # still measure the decoder without graphs
            state.pop("decoder", None)
            run.stage(f"paper.explainer.fast_eager.b{b}", lambda b=b: fast(b, graphs=False), **meta(b))
            state.pop("decoder", None)  # the next batch tries the graphs again
    if run.cuda and "decoder" in state and state["decoder"].fuse:
        # The same decoder with q/k/v and gate/up as separate matrix products, side by side.
        unfused = FastDecoder(state["merged"], max_shapes=2, fuse=False)
        for b in (1, 8):
            run.stage(f"paper.explainer.fast_unfused.b{b}",
                      lambda b=b: explainer_fast_stage(run, unfused, prompts[b], eos, pad, reference=refs.get(b),
                                                       prefill=True), **meta(b))
        unfused.clear()
    state.update(prompts=prompts, fast=fast, merged_stage=merged, meta=meta)
    return state


def paper_explainer_b32(run: Run, state: dict) -> None:
    if "merged" not in state:
        return
    meta = state["meta"]
    if "decoder" in state:
        state["decoder"].clear()  # the b1/b8 caches
    _free()
    run.stage("paper.explainer.hf_merged.b32", lambda: state["merged_stage"](32), **meta(32))
    _free()
    run.stage("paper.explainer.fast.b32", lambda: state["fast"](32), **meta(32))


# --------------------------------------------------------------------------------------
# Encoders and retriever
# --------------------------------------------------------------------------------------

def clip_towers(run: Run):
    """open_clip ViT-B-32 (random) in core.encoders.paper.ClipTowers; None if open_clip is missing."""
    from core.encoders.paper import ClipTowers

    try:
        import open_clip

        if run.tiny:
            return ClipTowers.tiny(run.device)
        model = open_clip.create_model("ViT-B-32", pretrained=None, device="cpu")
        return ClipTowers(model, open_clip.get_tokenizer("ViT-B-32"), "clip-ViT-B-32-random", run.device)
    except Exception as exc:  # noqa: BLE001 - fall back, and say so
        run.note(f"open_clip unavailable ({type(exc).__name__}: {exc}); frames and text use transformers' "
                 "CLIPModel with the ViT-B/32 config instead (same shape, not the code the worker runs)")
        return None


class HFClip:
    """Fallback: transformers' CLIP at ViT-B/32 shape, used like ClipTowers (random token ids)."""

    def __init__(self, run: Run):
        from transformers import CLIPConfig, CLIPModel

        if run.tiny:
            config = CLIPConfig(text_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                 num_attention_heads=2),
                                vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                   num_attention_heads=2, image_size=64, patch_size=32),
                                projection_dim=32)
        else:
            config = CLIPConfig(projection_dim=512)  # defaults: ViT-B/32 vision, 512-wide text
        self.model = CLIPModel(config).eval().to(run.device)
        self.size = config.vision_config.image_size
        self.device = run.device

    @torch.inference_mode()
    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(frames).to(self.device).permute(0, 3, 1, 2).float() / 255
        out = self.model.get_image_features(pixel_values=x)
        out = getattr(out, "pooler_output", out)
        return out.float().cpu().numpy()

    @torch.inference_mode()
    def encode_text(self, texts: list[str]):
        ids = torch.randint(1, 1000, (len(texts), 77), device=self.device)
        out = self.model.text_model(input_ids=ids).last_hidden_state
        return out.float().cpu().numpy()


def paper_encoders(run: Run) -> None:
    size = 64 if run.tiny else 224
    towers = {}

    def build():
        t = time.perf_counter()
        towers["clip"] = clip_towers(run) or HFClip(run)
        run.sync()
        made = time.perf_counter() - t
        towers["ast"] = _attempt(lambda: build_ast(run))
        run.sync()
        return {"clip": type(towers["clip"]).__name__, "clip_build_s": round(made, 2),
                "ast": _describe(towers["ast"]), "build_s": round(time.perf_counter() - t, 2)}

    if not _ok(run.stage("paper.encoders.build", build)):
        return
    clip = towers["clip"]
    ast = towers["ast"] if not isinstance(towers["ast"], Exception) else None
    rng = np.random.default_rng(0)
    for b in BATCHES:
        frames = rng.integers(0, 256, (b * FRAMES, size, size, 3), dtype=np.uint8)
        run.stage(f"paper.frames.b{b}", lambda f=frames: run.time(lambda: clip.encode_images(f)),
                  batch=b, what=f"{b * FRAMES} frames {size}x{size}, uint8 in -> features on CPU")
    for b in BATCHES:
        texts = [PREFERENCES[i % len(PREFERENCES)] for i in range(b)]
        run.stage(f"paper.text.b{b}", lambda t=texts: run.time(lambda: clip.encode_text(t)),
                  batch=b, what=f"{b} preference texts, tokenised (77 tokens)")
    bins, length = (ast.config.num_mel_bins, ast.config.max_length) if ast else (128, 1024)
    for b in BATCHES:
        def windows(b=b):
            if ast is None:
                raise RuntimeError(f"AST not built: {towers['ast']}")
            x = torch.randn(b, length, bins, device=run.device)
            return run.time(lambda: ast_forward(ast, x))

        run.stage(f"paper.ast.b{b}", windows, batch=b,
                  what=f"{b} windows of 10 s ({length}x{bins} fbank), pooled + tags (catalog ingest, not per turn)")
    del towers
    _free()


def build_ast(run: Run):
    from transformers import ASTConfig, ASTForAudioClassification

    if run.tiny:
        config = ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                           max_length=128, num_mel_bins=128, num_labels=527)
    else:
        config = ASTConfig(num_labels=527)  # defaults = AST base: 768 x 12, 1024 x 128 input
    return ASTForAudioClassification(config).eval().to(run.device)


@torch.inference_mode()
def ast_forward(model, x: torch.Tensor) -> np.ndarray:
    """As ASTMusic.encode_windows after feature extraction: pooled CLS features and tag probabilities."""
    pooled = model.audio_spectrogram_transformer(x).pooler_output
    probs = torch.sigmoid(model.classifier(pooled)).mean(0)
    return torch.cat([pooled.mean(0), probs]).float().cpu().numpy()


def retriever_stages(run: Run, profile: str, dims: dict) -> None:
    from core.retriever.model import Retriever, RetrieverConfig

    cfg = RetrieverConfig(**dims, max_frames=32)
    torch.manual_seed(0)
    model = Retriever(cfg).eval().to(run.device)
    keys = torch.nn.functional.normalize(torch.randn(CATALOG, cfg.joint_dim, device=run.device), dim=-1)
    desc = cfg.music_dim + cfg.scalar_dim + cfg.meta_dim

    @torch.inference_mode()
    def turn(inputs):
        q = model.query(**inputs)
        return (q @ keys.T).topk(10, dim=-1).indices.cpu().numpy()

    for b in BATCHES:
        d = run.device
        inputs = dict(
            frames=torch.randn(b, FRAMES, cfg.frame_dim, device=d), frame_mask=torch.ones(b, FRAMES, dtype=torch.bool, device=d),
            has_video=torch.ones(b, dtype=torch.bool, device=d), text=torch.randn(b, 32, cfg.text_dim, device=d),
            text_mask=torch.ones(b, 32, dtype=torch.bool, device=d), has_text=torch.ones(b, dtype=torch.bool, device=d),
            prev_segments=torch.randn(b, 8, cfg.music_dim, device=d),
            prev_seg_mask=torch.ones(b, 8, dtype=torch.bool, device=d), prev_desc=torch.randn(b, desc, device=d),
            has_prev=torch.ones(b, dtype=torch.bool, device=d))
        run.stage(f"{profile}.retriever.b{b}", lambda i=inputs: run.time(lambda: turn(i)), batch=b,
                  what=f"query tower (turn 2: text + previous pick) + cosine top-10 over {CATALOG} tracks",
                  dims=cfg.to_dict())


def paper_retriever_dims(run: Run) -> dict:
    if run.tiny:
        return dict(frame_dim=32, text_dim=32, music_dim=32, scalar_dim=24, meta_dim=32, joint_dim=32, hidden=32)
    # CLIP ViT-B-32 512-d frames and text (metadata is embedded by the text tower), AST 768-d,
    # AudioSet's 527 tags + 4 scalars; joint space and widths as the retriever's defaults.
    return dict(frame_dim=512, text_dim=512, music_dim=768, scalar_dim=527 + 4, meta_dim=512)


# --------------------------------------------------------------------------------------
# Offline profile
# --------------------------------------------------------------------------------------

def offline_profile(run: Run) -> None:
    import timm
    from transformers import BertConfig, BertModel

    size = 32 if run.tiny else 224
    models: dict = {}

    bert = (BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
            if run.tiny else BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                        intermediate_size=1536))

    def taggers():
        musicnn = _musicnn()
        models["patch"] = (musicnn.N_FRAMES, musicnn.N_MELS)
        return [musicnn.MusicnnTagger(name).eval().to(run.device) for name in ("MTT_musicnn", "MSD_musicnn")]

    def build():
        t = time.perf_counter()
        models["frames"] = _attempt(lambda: timm.create_model("efficientnet_lite0", pretrained=False).eval().to(run.device))
        models["text"] = _attempt(lambda: BertModel(bert, add_pooling_layer=False).eval().to(run.device))
        models["music"] = _attempt(taggers)
        run.sync()
        return {"build_s": round(time.perf_counter() - t, 2), **{k: _describe(models[k]) for k in ("frames", "text", "music")},
                "what": "efficientnet_lite0 (timm, = EfficientNet-Lite0), MiniLM-L6 shape (BertModel), musicnn MTT+MSD"}

    if not _ok(run.stage("offline.encoders.build", build)):
        return
    rng = np.random.default_rng(0)

    def model(part: str):
        if isinstance(models[part], Exception):
            raise RuntimeError(f"{part} model not built: {models[part]}")
        return models[part]

    @torch.inference_mode()
    def frames(x: np.ndarray):
        net = model("frames")
        t = torch.from_numpy(x).to(run.device).permute(0, 3, 1, 2).float().div_(255.0).sub_(0.5).div_(0.5)
        feats = net.forward_head(net.forward_features(t), pre_logits=True)
        return feats.float().cpu().numpy(), net.get_classifier()(feats).softmax(-1).mean(0).topk(3).indices.cpu()

    @torch.inference_mode()
    def text(ids: torch.Tensor):
        h = model("text")(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        return torch.nn.functional.normalize(h.mean(1), dim=-1).float().cpu().numpy()

    @torch.inference_mode()
    def music(patches: torch.Tensor):
        return torch.cat([tagger(patches)["embedding"] for tagger in model("music")], -1).float().cpu().numpy()

    for b in BATCHES:
        x = rng.integers(0, 256, (b * FRAMES, size, size, 3), dtype=np.uint8)
        run.stage(f"offline.frames.b{b}", lambda x=x: run.time(lambda: frames(x)), batch=b,
                  what=f"{b * FRAMES} frames {size}x{size} -> 1280-d + ImageNet labels")
    for b in BATCHES:
        ids = torch.randint(1000, 30000, (b, 16), device=run.device)
        run.stage(f"offline.text.b{b}", lambda i=ids: run.time(lambda: text(i)), batch=b,
                  what=f"{b} preference texts of 16 tokens -> 384-d")
    for b in BATCHES:
        # A 10 s window is three 3 s patches. The taggers keep their real size under --tiny,
        # where one CPU thread would take a minute at batch 32: there, two patches only.
        n = min(b, 2) if run.tiny else 3 * b
        patches = torch.randn(n, *models.get("patch", (187, 96)), device=run.device)
        run.stage(f"offline.music.b{b}", lambda p=patches: run.time(lambda: music(p)), batch=b,
                  what=f"{n} patches of 3 s (10 s window = 3), MTT + MSD taggers (catalog ingest, not per turn)")
    models.clear()
    _free()
    retriever_stages(run, "offline", offline_retriever_dims(run))
    offline_explainer(run)


def _musicnn():
    """core.encoders.musicnn without the application's settings: it asks core.weights only
    where the shipped checkpoints are, which random weights do not need."""
    import types

    if "core.weights" in sys.modules:
        from core.encoders import musicnn
        return musicnn
    stub = types.ModuleType("core.weights")
    stub.package_dir = lambda name: None
    sys.modules["core.weights"] = stub
    try:
        from core.encoders import musicnn
    finally:
        del sys.modules["core.weights"]
    return musicnn


def offline_retriever_dims(run: Run) -> dict:
    if run.tiny:
        return dict(frame_dim=48, text_dim=24, music_dim=40, scalar_dim=20, meta_dim=24, joint_dim=32, hidden=32)
    path = ROOT / "checkpoints" / "retriever-offline" / "config.json"
    try:
        cfg = json.loads(path.read_text())
        keep = ("frame_dim", "text_dim", "music_dim", "scalar_dim", "meta_dim", "joint_dim", "hidden", "heads",
                "temporal_layers", "fusion_layers", "fusion")
        return {k: cfg[k] for k in keep if k in cfg}
    except (OSError, ValueError, KeyError):
        return dict(frame_dim=1280, text_dim=384, music_dim=400, scalar_dim=104, meta_dim=384)


def offline_explainer_shape(run: Run) -> tuple[dict, dict]:
    """SmolLM2-135M's shape and the shipped adapter's LoRA settings (from the checkpoint when readable)."""
    shape, lora = dict(SMOLLM2_135M), {"r": LORA_R, "alpha": LORA_ALPHA, "targets": LORA_TARGETS}
    folder = ROOT / "checkpoints" / "explainer-offline"
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        adapter = json.loads((folder / "adapter_config.json").read_text())
        if manifest.get("hidden_size") not in (None, shape["hidden_size"]):
            run.note(f"offline explainer checkpoint has hidden size {manifest['hidden_size']}, "
                     f"not SmolLM2-135M's {shape['hidden_size']}; measuring SmolLM2-135M's shape")
        lora = {"r": adapter["r"], "alpha": adapter["lora_alpha"], "targets": tuple(adapter["target_modules"])}
    except (OSError, ValueError, KeyError) as exc:
        run.note(f"offline explainer checkpoint unreadable ({exc}); LoRA r={LORA_R} on {LORA_TARGETS}")
    if run.tiny:
        shape = dict(TINY_LLAMA, tie_word_embeddings=True, pad_token_id=2)
    return shape, lora


def offline_explainer(run: Run) -> None:
    from core.explainer.fastdecode import FastDecoder

    shape, lora = offline_explainer_shape(run)
    dtype = torch.bfloat16 if run.cuda else torch.float32
    lengths = (20, 40) if run.tiny else (130, 200)  # chat template + facts
    eos, pad = shape["eos_token_id"], shape["pad_token_id"]
    state = {}

    def build():
        base = build_llama(shape, run, dtype)
        state["lm"] = add_lora(base, lora["r"], lora["alpha"], lora["targets"]).merge_and_unload()
        state["decoder"] = FastDecoder(state["lm"], max_shapes=2)
        return {"params_m": round(sum(p.numel() for p in base.parameters()) / 1e6, 1), "dtype": str(dtype),
                "lora": {**lora, "targets": list(lora["targets"])}}

    if not _ok(run.stage("offline.explainer.build", build, what="SmolLM2-135M shape, LoRA merged")):
        return
    for b in BATCHES:
        prompts = Prompts(state["lm"], b * PICKS, lengths, seed=b)
        meta = {"batch": b, "what": f"{b * PICKS} sequences x {NEW_TOKENS} new tokens"}
        run.stage(f"offline.explainer.hf_merged.b{b}",
                  lambda p=prompts: explainer_hf_stage(run, state["lm"], p, eos, pad), **meta)
        run.stage(f"offline.explainer.fast.b{b}",
                  lambda p=prompts: explainer_fast_stage(run, state["decoder"], p, eos, pad, prefill=False), **meta)
    state.clear()
    _free()


# --------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------

def _ms(run: Run, name: str) -> float | None:
    rec = run.data["stages"].get(name) or {}
    return rec.get("ms") if rec.get("status") == "ok" else None


def turns(run: Run) -> None:
    """Turn latency per profile and batch: frames + text + retriever + the fastest explainer path."""
    for profile in ("paper", "offline"):
        rows = {}
        for b in BATCHES:
            parts = {k: _ms(run, f"{profile}.{k}.b{b}") for k in ("frames", "text", "retriever")}
            paths = {p: _ms(run, f"{profile}.explainer.{p}.b{b}") for p in ("fast", "fast_eager", "hf_merged", "hf_lora")}
            paths = {p: v for p, v in paths.items() if v is not None}
            if any(v is None for v in parts.values()) or not paths:
                rows[str(b)] = {"status": "incomplete", **parts, "explainer": paths}
                continue
            path = min(paths, key=paths.get)
            total = sum(parts.values()) + paths[path]
            rows[str(b)] = {**{k: round(v, 1) for k, v in parts.items()}, "explainer_ms": round(paths[path], 1),
                            "explainer_path": path, "turn_ms": round(total, 1),
                            "turns_per_s": round(b / (total / 1000), 2)}
        run.data["turns"][profile] = rows
    run.save()


def capacity(run: Run) -> None:
    """GPU workers for 60, 600, 6000 turns/minute at a p95 target of 2 s per turn.

    Assumption: a worker runs whatever is queued, up to batch b, as one batch; at <= 70 %
    utilisation the p95 latency is about the batch latency plus queueing of at most one
    batch in progress, i.e. p95 ~ 2 x batch latency. A batch size is usable when
    2 x latency <= 2 s and arrivals fill it within that window.
    """
    for profile, rows in run.data["turns"].items():
        measured = {int(b): r for b, r in rows.items() if "turn_ms" in r}
        plan = {}
        for per_minute in (60, 600, 6000):
            rate = per_minute / 60
            best = None
            for b, r in sorted(measured.items()):
                latency = r["turn_ms"] / 1000
                if 2 * latency > P95_TARGET_S:
                    continue
                workers = max(1, math.ceil(rate / (UTILISATION * r["turns_per_s"])))
                if b > 1 and rate / workers * 2 * latency < b:
                    continue  # batches of b would not fill: its throughput is not reached
                if best is None or workers < best["workers"]:
                    best = {"workers": workers, "batch": b, "turn_ms": r["turn_ms"], "turns_per_s": r["turns_per_s"],
                            "utilisation": round(rate / (workers * r["turns_per_s"]), 2)}
            plan[str(per_minute)] = best or {"workers": None, "reason": "no measured batch meets p95 <= 2 s"}
        run.data["capacity"][profile] = plan
    run.data["capacity"]["assumption"] = (
        f"p95 ~ batch latency + queueing; at <= {UTILISATION:.0%} utilisation queueing adds about one batch "
        f"latency, so a batch size counts when 2 x its turn latency <= {P95_TARGET_S:.0f} s; workers = "
        f"ceil(rate / ({UTILISATION} x turns/s)), one GPU each; turn = frames + text + retriever + 3 explanations "
        "(the frames are cached after turn 1, so later turns are faster)")
    run.save()


def markdown(run: Run) -> str:
    d = run.data
    lines = [f"## GPU check: {d['device']}", "",
             f"torch {d['versions'].get('torch')}, transformers {d['versions'].get('transformers')}, "
             f"{'tiny models' if d['tiny'] else 'real sizes'}, random weights, {run.elapsed():.0f} s", "",
             "| stage | batch | ms (median) | GPU ms | peak GiB | notes |", "|---|---|---|---|---|---|"]
    for name, r in d["stages"].items():
        extra = []
        for key in ("sequences", "new_tokens", "ms_per_token", "prefill_ms", "first_call_ms", "params_b", "build_s",
                    "merge_s"):
            if key in r:
                extra.append(f"{key}={r[key]}")
        if "agrees_with_generate" in r:
            extra.append(f"agree={r['agrees_with_generate']}")
        if r.get("status") != "ok":
            extra.insert(0, f"**{r.get('status')}** {r.get('error') or r.get('reason') or ''}"[:160])
        lines.append(f"| {name} | {r.get('batch', '')} | {r.get('ms', '')} | {r.get('gpu_ms', '')} | "
                     f"{r.get('peak_gib', '')} | {'; '.join(extra)} |")
    lines += ["", "| profile | batch | frames | text | retriever | explainer (path) | turn ms | turns/s |",
              "|---|---|---|---|---|---|---|---|"]
    for profile, rows in d["turns"].items():
        for b, r in rows.items():
            if "turn_ms" in r:
                lines.append(f"| {profile} | {b} | {r['frames']} | {r['text']} | {r['retriever']} | "
                             f"{r['explainer_ms']} ({r['explainer_path']}) | {r['turn_ms']} | {r['turns_per_s']} |")
            else:
                lines.append(f"| {profile} | {b} | incomplete | | | | | |")
    lines += ["", f"Capacity (p95 target {P95_TARGET_S:.0f} s per turn):", ""]
    for profile in ("paper", "offline"):
        for n, p in d["capacity"].get(profile, {}).items():
            if p.get("workers"):
                lines.append(f"- {profile}, {n} turns/min: {p['workers']} GPU worker(s) at batch {p['batch']} "
                             f"({p['turn_ms']} ms per batch, {p['utilisation']:.0%} busy)")
            else:
                lines.append(f"- {profile}, {n} turns/min: {p.get('reason')}")
    lines += ["", f"Assumption: {d['capacity'].get('assumption', '')}"]
    for note in d["notes"]:
        lines.append(f"- note: {note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=240.0, help="skip stages that would start after this")
    parser.add_argument("--tiny", action="store_true", help="tiny models (runs on a CPU in about a minute)")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default $OUT/gpu.json or bench/results)")
    args = parser.parse_args(argv)
    out = args.out or (Path(os.environ["OUT"]) / "gpu.json" if os.environ.get("OUT")
                       else ROOT / "bench" / "results" / "gpu.json")
    if not torch.cuda.is_available():
        torch.set_num_threads(int(os.environ.get("MUSECHAT_TORCH_THREADS") or torch.get_num_threads()))
    run = Run(args.budget_s, args.tiny, out)
    print(f"device: {run.data['device']}; versions: {run.data['versions']}", flush=True)
    if not run.cuda and not args.tiny:
        run.note("no CUDA device: real sizes on a CPU will mostly be skipped by the time budget")

    run.stage("fastdecode.check", lambda: fastdecode_check(run))
    state = paper_explainer(run)  # (a), (b), (c) for batches 1 and 8
    paper_encoders(run)
    retriever_stages(run, "paper", paper_retriever_dims(run))
    paper_explainer_b32(run, state)
    state.clear()
    _free()
    offline_profile(run)
    turns(run)
    capacity(run)
    print(markdown(run), flush=True)
    print(f"results: {out} ({run.elapsed():.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
