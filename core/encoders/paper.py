"""The ``paper`` profile: open_clip ViT-B-32 for frames and text, AST for music.

Weights come from a local path or an already-filled Hugging Face cache; nothing is
downloaded (``HF_HUB_OFFLINE`` is forced). Tests build the same classes from tiny
random configs (``ClipTowers.tiny()``, ``ASTMusic.tiny()``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from core.encoders import MusicFeatures, TextFeatures, segment_windows
from core.video_facts import LABEL_FRAME_SHARE, LABEL_FRAME_THRESHOLD, LABEL_THRESHOLD, ContentLabel

_CLIP_MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073])
_CLIP_STD = torch.tensor([0.26862954, 0.26130258, 0.27577711])

# What the frames show: CLIP zero-shot over a small scene vocabulary.
SCENE_LABELS = (
    "a beach", "the sea", "a forest", "mountains", "a city street", "a night sky", "a desert",
    "snow", "a party", "a concert", "a wedding", "a sports game", "a kitchen", "an office",
    "a cartoon", "a video game", "animals", "a car", "people dancing", "a sunset", "rain",
    "a river", "a castle", "space", "a spooky place", "children playing", "a garden",
)


class ClipTowers:
    """One open_clip CLIP model shared by the frame and text encoders."""

    def __init__(self, model, tokenizer, name: str, device: str):
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        self.dim = int(model.text_projection.shape[1])

    @classmethod
    def from_settings(cls, settings, device: str) -> ClipTowers:
        import open_clip

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        pretrained = settings.clip_pretrained
        model = open_clip.create_model(settings.clip_model, pretrained=pretrained, device="cpu")
        return cls(model, open_clip.get_tokenizer(settings.clip_model), f"clip-{settings.clip_model}", device)

    @classmethod
    def tiny(cls, device: str = "cpu", embed_dim: int = 32) -> ClipTowers:
        """Random CLIP with ViT-B-32's structure at toy size (tests)."""
        import open_clip
        from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

        model = CLIP(embed_dim,
                     CLIPVisionCfg(image_size=64, layers=2, width=64, patch_size=32, head_width=32),
                     CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=2, layers=2))
        return cls(model, open_clip.get_tokenizer("ViT-B-32"), "clip-tiny", device)

    @torch.inference_mode()
    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        size = self.model.visual.image_size
        size = size[0] if isinstance(size, tuple) else size
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2).float() / 255
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = (x - _CLIP_MEAN.to(x.device)[:, None, None]) / _CLIP_STD.to(x.device)[:, None, None]
        return self.model.encode_image(x).float().cpu().numpy()

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> TextFeatures:
        m = self.model
        ids = self.tokenizer(list(texts)).to(self.device)  # [B, 77]
        x = m.token_embedding(ids) + m.positional_embedding
        x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask))  # [B, 77, width]
        tokens = x @ m.text_projection  # every token in the joint space
        eot = ids.argmax(dim=-1)  # the end-of-text token has the largest id
        pooled = F.normalize(tokens[torch.arange(len(ids)), eot], dim=-1)
        mask = torch.arange(ids.shape[1], device=ids.device)[None] <= eot[:, None]
        return TextFeatures(tokens.float().cpu().numpy(), mask.cpu().numpy(), pooled.float().cpu().numpy())


class ClipFrames:
    def __init__(self, towers: ClipTowers):
        self.towers = towers
        self.name = towers.name + "-image"
        self.dim = towers.dim
        self._label_vecs: np.ndarray | None = None  # the scene-label prompts, encoded once

    def encode(self, frames: np.ndarray) -> np.ndarray:
        return self.towers.encode_images(frames)

    def encode_with_content(self, frames: np.ndarray) -> tuple[np.ndarray, list[ContentLabel]]:
        """Features [T, dim] and the scene labels CLIP gives a probability at or above the threshold."""
        feats = self.encode(frames)
        return feats, self._content(self._probabilities(feats))

    def class_probabilities(self, frames: np.ndarray) -> tuple[list[str], np.ndarray]:
        """The scene vocabulary and CLIP's zero-shot probabilities per frame [T, len(SCENE_LABELS)]."""
        return [_label_name(s) for s in SCENE_LABELS], self._probabilities(self.encode(frames))

    def _probabilities(self, feats: np.ndarray) -> np.ndarray:
        if self._label_vecs is None:
            self._label_vecs = self.towers.encode_text([f"a photo of {s}" for s in SCENE_LABELS]).pooled
        img = feats / np.linalg.norm(feats, axis=-1, keepdims=True).clip(1e-8)
        logits = 100.0 * img @ self._label_vecs.T  # CLIP's own logit scale
        logits -= logits.max(-1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(-1, keepdims=True)

    @staticmethod
    def _content(probs: np.ndarray) -> list[ContentLabel]:
        out = []
        for i, s in enumerate(SCENE_LABELS):
            p = probs[:, i]
            if p.mean() >= LABEL_THRESHOLD and (p >= LABEL_FRAME_THRESHOLD).mean() >= LABEL_FRAME_SHARE:
                out.append(ContentLabel(_label_name(s), round(float(p.mean()), 3), "clip-zero-shot"))
        return sorted(out, key=lambda label: -label.probability)


def _label_name(prompt: str) -> str:
    return prompt.removeprefix("a ").removeprefix("an ").removeprefix("the ")


class ClipText:
    def __init__(self, towers: ClipTowers):
        self.towers = towers
        self.name = towers.name + "-text"
        self.dim = towers.dim

    def encode(self, texts: list[str]) -> TextFeatures:
        return self.towers.encode_text(texts)


class ASTMusic:
    """Audio Spectrogram Transformer over ~10 s windows: CLS features per window, AudioSet tags."""

    sample_rate = 16000
    window_s = 10.0
    max_seconds = 600.0

    def __init__(self, model, extractor, name: str, device: str):
        self.model = model.eval().to(device)
        self.extractor = extractor
        self.name = name
        self.device = device
        self.dim = int(model.config.hidden_size)
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]

    @classmethod
    def from_settings(cls, settings, device: str) -> ASTMusic:
        from transformers import ASTFeatureExtractor, ASTForAudioClassification

        ref = settings.ast_model
        model = ASTForAudioClassification.from_pretrained(ref, local_files_only=True)
        extractor = ASTFeatureExtractor.from_pretrained(ref, local_files_only=True)
        return cls(model, extractor, "ast-" + Path(ref).name, device)

    @classmethod
    def tiny(cls, device: str = "cpu") -> ASTMusic:
        """Random AST at toy size with the real feature extractor settings (tests)."""
        from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

        config = ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                           max_length=1024, num_mel_bins=128, num_labels=5,
                           id2label={i: f"label{i}" for i in range(5)}, label2id={f"label{i}": i for i in range(5)})
        extractor = ASTFeatureExtractor(max_length=1024, num_mel_bins=128, sampling_rate=16000)
        return cls(ASTForAudioClassification(config), extractor, "ast-tiny", device)

    def encode(self, audio: np.ndarray) -> MusicFeatures:
        audio = np.asarray(audio, dtype=np.float32)[: int(self.max_seconds * self.sample_rate)]
        return self.encode_windows([audio[s:e] for s, e in segment_windows(len(audio), self.sample_rate, self.window_s)])

    @torch.inference_mode()
    def encode_windows(self, windows: list[np.ndarray]) -> MusicFeatures:
        inputs = self.extractor(windows, sampling_rate=self.sample_rate, return_tensors="pt")
        x = inputs["input_values"].to(self.device)
        pooled = self.model.audio_spectrogram_transformer(x).pooler_output  # [S, hidden]
        probs = torch.sigmoid(self.model.classifier(pooled)).mean(0)
        top = probs.topk(min(20, len(self.labels)))
        tags = {"audioset": {self.labels[i]: round(float(p), 4) for p, i in zip(top.values.tolist(), top.indices.tolist())}}
        segments = pooled.float().cpu().numpy()
        return MusicFeatures(segments=segments, pooled=segments.mean(0), tags=tags)
