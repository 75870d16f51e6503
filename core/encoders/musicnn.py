"""The musicnn music taggers (Pons & Serra, 2019) in PyTorch, with the original weights.

The PyPI package ``musicnn==0.1.0`` ships TensorFlow 1 checkpoints of taggers trained
on MagnaTagATune (MTT) and the Million Song Dataset (MSD) — the two tag vocabularies
MuseChat describes tracks with. Here the networks are rebuilt in PyTorch and every
weight is read from those checkpoints by :mod:`core.encoders.tfcheckpoint`, so neither
TensorFlow nor the package's own code is needed (install it with
``pip install --no-deps musicnn==0.1.0`` just for its files).

Parity with the original TensorFlow code is checked against a stored reference in
``tests/fixtures/musicnn/``.

Input pipeline (as ``musicnn.extractor.batch_data``): 16 kHz mono -> librosa-style
power mel spectrogram (n_fft 512, hop 256, 96 Slaney mels, Hann window, centred with
zero padding) -> ``log10(10000 * mel + 1)`` -> non-overlapping patches of 187 frames
(3 s); a trailing part shorter than a patch is dropped, as musicnn does. One
deliberate difference: musicnn casts the mel spectrogram to float16 before the log,
which rounds it to 11 significant bits and overflows to ``inf`` for un-normalised
input (mel power > 65504, e.g. int16-scaled samples); here it stays float32. On the
reference test signals (in [-1, 1]) the two differ by < 5e-5 in tag probability.

Outputs per patch: ``tags`` — 50 sigmoid probabilities in :func:`tag_names` order;
``embedding`` — the penultimate layer, D = 200 for the ``*_musicnn`` models (batch-
normalised dense layer, musicnn's ``penultimate`` feature) and D = 256 for the
``*_vgg`` models (flattened last pooling layer, the classifier's input).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from core.encoders.tfcheckpoint import TFCheckpoint
from core.errors import WeightsMissing
from core.weights import package_dir

__all__ = [
    "EMBEDDING_DIMS",
    "MUSICNN_MODELS",
    "MusicnnCheckpointMissing",
    "MusicnnTagger",
    "N_FRAMES",
    "N_MELS",
    "PATCH_SECONDS",
    "SAMPLE_RATE",
    "log_mel",
    "log_mel_patches",
    "mel_filterbank",
    "musicnn_checkpoint_dir",
    "tag_names",
]

SAMPLE_RATE = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
# librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1, as musicnn computes it.
N_FRAMES = 187
PATCH_SECONDS = 3.0

MUSICNN_MODELS = ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")
EMBEDDING_DIMS = {"MTT_musicnn": 200, "MSD_musicnn": 200, "MTT_vgg": 256, "MSD_vgg": 256}

# musicnn.configuration.MTT_LABELS / MSD_LABELS, in output order.
_MTT_TAGS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
    "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
    "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
    "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats",
    "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip
_MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
    "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
    "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip

_PIP_FIX = "pip install --no-deps musicnn==0.1.0"
_BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization's default epsilon


class MusicnnCheckpointMissing(WeightsMissing, FileNotFoundError):
    """The musicnn package (which holds the checkpoints) is not installed."""


def _check_model(model_name: str) -> None:
    if model_name not in MUSICNN_MODELS:
        raise ValueError(f"unknown musicnn model {model_name!r}; choose from {MUSICNN_MODELS}")


def tag_names(model_name: str) -> list[str]:
    """The 50 tags of ``model_name``, in the order of its ``tags`` output."""
    _check_model(model_name)
    return list(_MTT_TAGS if model_name.startswith("MTT") else _MSD_TAGS)


def musicnn_checkpoint_dir(model_name: str) -> Path:
    """Folder of ``model_name``'s TensorFlow checkpoint inside the installed musicnn package.

    Raises :class:`MusicnnCheckpointMissing` (a ``FileNotFoundError``) if it is not there.
    """
    _check_model(model_name)
    root = package_dir("musicnn")
    path = root / model_name if root else None
    if path is None or not (path / ".index").is_file():
        where = f" (looked in {path})" if path else ""
        raise MusicnnCheckpointMissing(
            f"musicnn checkpoint {model_name!r} not found{where}; install it with "
            f"`{_PIP_FIX}` (the --no-deps keeps TensorFlow out)"
        )
    return path


# ---------------------------------------------------------------------------
# Front end: log-mel patches, numerically as librosa 0.11 + musicnn compute them.


def _hz_to_mel(freqs: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, ``htk=False``): linear below 1 kHz, log above."""
    freqs = np.asarray(freqs, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    mels = freqs / f_sp
    log_part = freqs >= min_log_hz
    mels[log_part] = min_log_mel + np.log(freqs[log_part] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    freqs = f_sp * mels
    log_part = mels >= min_log_mel
    freqs[log_part] = min_log_hz * np.exp(logstep * (mels[log_part] - min_log_mel))
    return freqs


def mel_filterbank(
    sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS
) -> np.ndarray:
    """Triangular Slaney-normalised mel filters, float32 ``[n_mels, n_fft // 2 + 1]``.

    Same as ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)`` (fmin 0, fmax
    sr/2), rewritten so inference does not import librosa (and numba).
    """
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    mel_freqs = _mel_to_hz(np.linspace(_hz_to_mel(np.array([0.0]))[0],
                                       _hz_to_mel(np.array([sr / 2.0]))[0], n_mels + 2))
    fdiff = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]  # equal area per filter
    return weights.astype(np.float32)


_MEL_BASIS = mel_filterbank()
# Periodic Hann window (scipy.signal.get_window("hann", 512, fftbins=True)).
_WINDOW = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)


def log_mel(audio: np.ndarray) -> np.ndarray:
    """Log-compressed mel spectrogram, float32 ``[n_frames, 96]``, ``n_frames = 1 + len // 256``.

    ``audio``: mono float samples at 16 kHz, nominally in [-1, 1].
    """
    audio = _as_mono_float32(audio)
    # librosa >= 0.10 centres frames by zero padding (older versions reflected the edges).
    padded = np.pad(audio, N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH]
    # librosa windows and transforms in float64, then stores the STFT as complex64.
    stft = np.fft.rfft(frames * _WINDOW, axis=-1).astype(np.complex64)
    power = np.abs(stft) ** 2  # [n_frames, 257] float32
    mel = power @ _MEL_BASIS.T
    return np.log10(np.float32(10000.0) * mel + np.float32(1.0))


def _as_mono_float32(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio of shape [samples], got shape {audio.shape}")
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"expected float samples in [-1, 1], got dtype {audio.dtype}")
    audio = audio.astype(np.float32, copy=False)
    if not np.isfinite(audio).all():
        raise ValueError("audio contains NaN or infinite samples")
    return audio


def log_mel_patches(audio: np.ndarray, hop_frames: int = N_FRAMES) -> Tensor:
    """Split ``audio`` into the model's input patches, float32 ``[n_patches, 187, 96]``.

    ``audio``: mono float samples at 16 kHz (:data:`SAMPLE_RATE`). Patches are 187
    frames (3 s) long and start every ``hop_frames`` frames (default: back to back, as
    musicnn's tagger); frames after the last whole patch are dropped. Audio shorter than
    one patch is zero-padded (silence) to exactly one patch.
    """
    if hop_frames < 1:
        raise ValueError("hop_frames must be >= 1")
    audio = _as_mono_float32(audio)
    min_samples = (N_FRAMES - 1) * HOP_LENGTH  # gives exactly N_FRAMES centred frames
    if len(audio) < min_samples:
        audio = np.pad(audio, (0, min_samples - len(audio)))
    spec = log_mel(audio)
    starts = range(0, spec.shape[0] - N_FRAMES + 1, hop_frames)
    patches = np.stack([spec[s : s + N_FRAMES] for s in starts])
    return torch.from_numpy(patches)


# ---------------------------------------------------------------------------
# Networks. TensorFlow's [batch, time, freq, channel] maps to PyTorch's
# [batch, channel, time, freq]; every conv is conv -> ReLU -> batch norm, in that
# order, as musicnn built them.


def _batch_norm(num_features: int, dims: int) -> nn.Module:
    cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    return cls(num_features, eps=_BN_EPS)


def _bn_relu_freq_max(conv_out: Tensor, bn: nn.Module) -> Tensor:
    """``max_freq(bn(relu(conv_out)))`` for ``conv_out`` [B, C, T, F] -> [B, C, T].

    Batch norm in inference is a per-channel affine map ``s * x + b``, monotone in x,
    so the maximum over frequency commutes with it (taking the minimum where s < 0),
    as it does with ReLU. Reducing first skips two passes over the largest tensor of
    the network (and ~2/3 of its peak memory) with the same result up to rounding.
    """
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    hi = conv_out.amax(dim=3).clamp_min_(0)
    lo = conv_out.amin(dim=3).clamp_min_(0)
    scale, shift = scale[None, :, None], shift[None, :, None]
    return torch.where(scale >= 0, hi, lo) * scale + shift


class _TimbralBlock(nn.Module):
    """Conv over (7 frames x a band of mel bins), max-pooled over frequency -> [B, C, T]."""

    def __init__(self, filters: int, freq_size: int):
        super().__init__()
        self.conv = nn.Conv2d(1, filters, kernel_size=(7, freq_size))
        self.bn = _batch_norm(filters, 2)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, (0, 0, 3, 3))  # pad time only: 'same' in time, 'valid' in frequency
        return _bn_relu_freq_max(self.conv(x), self.bn)


class _TemporalBlock(nn.Module):
    """Conv along time only (length k, per mel bin), max-pooled over frequency -> [B, C, T]."""

    def __init__(self, filters: int, time_size: int):
        super().__init__()
        self.conv = nn.Conv2d(1, filters, kernel_size=(time_size, 1))
        self.bn = _batch_norm(filters, 2)
        # TensorFlow 'same' puts the odd padding element after the signal.
        self.pad = ((time_size - 1) // 2, time_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, (0, 0, *self.pad))
        return _bn_relu_freq_max(self.conv(x), self.bn)


def _conv_over_time(conv: nn.Conv1d, h: Tensor, as_gemm: bool) -> Tensor:
    """The mid end's 'same' convolution over time, [B, C_in, T] -> [B, C_out, T].

    ``as_gemm`` runs it as one unfold + matmul. Used on CUDA: for these shapes cuDNN
    picks pathological algorithms (0.3-0.4 s for 1-20 patches of the first mid-end
    layer on an H200, against 0.2 ms as a GEMM). On CPU oneDNN's convolution is faster.
    """
    if not as_gemm:
        return conv(h)
    k = conv.kernel_size[0]
    windows = F.pad(h, (k // 2, k // 2)).unfold(2, k, 1)  # [B, C_in, T, k]
    b, c_in, t, _ = windows.shape
    windows = windows.permute(0, 2, 1, 3).reshape(b, t, c_in * k)
    out = windows @ conv.weight.reshape(conv.out_channels, c_in * k).T + conv.bias
    return out.transpose(1, 2)


class _Musicnn(nn.Module):
    """musicnn: musically motivated front end, dense mid end, temporal-pooling back end."""

    def __init__(self, num_classes: int = 50, midend_filters: int = 64, backend_units: int = 200):
        super().__init__()
        timbral, temporal = int(1.6 * 128), int(1.6 * 32)  # 204 and 51 filters
        self.input_bn = _batch_norm(1, 2)
        self.timbral = nn.ModuleList([
            _TimbralBlock(timbral, int(0.4 * N_MELS)),  # 38 mel bins
            _TimbralBlock(timbral, int(0.7 * N_MELS)),  # 67 mel bins
        ])
        self.temporal = nn.ModuleList([_TemporalBlock(temporal, k) for k in (128, 64, 32)])
        frontend_dim = 2 * timbral + 3 * temporal  # 561
        # TF convolves [T, features, 1] with a full-width kernel: a 1-D conv over time.
        self.midend_convs = nn.ModuleList([
            nn.Conv1d(frontend_dim, midend_filters, 7, padding=3),
            nn.Conv1d(midend_filters, midend_filters, 7, padding=3),
            nn.Conv1d(midend_filters, midend_filters, 7, padding=3),
        ])
        self.midend_bns = nn.ModuleList([_batch_norm(midend_filters, 1) for _ in range(3)])
        pooled_dim = 2 * (frontend_dim + 3 * midend_filters)  # max and mean of 753 -> 1506
        self.pool_bn = _batch_norm(pooled_dim, 1)
        self.dense = nn.Linear(pooled_dim, backend_units)
        self.dense_bn = _batch_norm(backend_units, 1)
        self.classifier = nn.Linear(backend_units, num_classes)

    def forward(self, patches: Tensor) -> tuple[Tensor, Tensor]:
        x = self.input_bn(patches.unsqueeze(1))  # [B, 1, 187, 96]
        front = torch.cat([block(x) for block in (*self.timbral, *self.temporal)], dim=1)
        features, h = [front], front  # [B, 561, 187]
        for i, (conv, bn) in enumerate(zip(self.midend_convs, self.midend_bns)):
            out = bn(F.relu(_conv_over_time(conv, h, as_gemm=h.is_cuda)))
            h = out if i == 0 else out + h  # residual from the second layer on
            features.append(h)
        midend = torch.cat(features, dim=1)  # [B, 753, 187]
        # TF flattens [B, 753, (max, mean)], so the two pools interleave per feature.
        pooled = torch.stack([midend.amax(dim=2), midend.mean(dim=2)], dim=2).flatten(1)
        embedding = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))  # [B, 200]
        return self.classifier(embedding), embedding

    def load_tf(self, ckpt: TFCheckpoint) -> None:
        bns = [self.input_bn, *(b.bn for b in self.timbral), *(b.bn for b in self.temporal),
               *self.midend_bns, self.pool_bn, self.dense_bn]
        for i, bn in enumerate(bns):  # TF numbers layers in creation order
            _load_bn(bn, ckpt, "batch_normalization" + (f"_{i}" if i else ""))
        convs = [*(b.conv for b in self.timbral), *(b.conv for b in self.temporal)]
        for i, conv in enumerate(convs):
            _load_conv2d(conv, ckpt, "conv2d" + (f"_{i}" if i else ""))
        for i, conv in enumerate(self.midend_convs, start=len(convs)):
            kernel = ckpt[f"conv2d_{i}/kernel"]  # [7, in, 1, out]
            _copy(conv.weight, kernel[:, :, 0, :].transpose(2, 1, 0))
            _copy(conv.bias, ckpt[f"conv2d_{i}/bias"])
        _load_dense(self.dense, ckpt, "dense")
        _load_dense(self.classifier, ckpt, "dense_1")


class _Vgg(nn.Module):
    """The VGG-like baseline: five 3x3 conv + max-pool stages, dense classifier."""

    def __init__(self, num_classes: int = 50, filters: int = 128):
        super().__init__()
        self.input_bn = _batch_norm(1, 2)
        self.convs = nn.ModuleList(
            [nn.Conv2d(1 if i == 0 else filters, filters, 3, padding=1) for i in range(5)]
        )
        self.bns = nn.ModuleList([_batch_norm(filters, 2) for _ in range(5)])
        # (pool size, stride) per stage, [time, freq]; TF 'valid' pooling drops remainders.
        self.pools = [((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)),
                      ((4, 4), (4, 4))]
        self.classifier = nn.Linear(2 * 1 * filters, num_classes)  # pool5 is [2, 1, 128]

    def forward(self, patches: Tensor) -> tuple[Tensor, Tensor]:
        x = self.input_bn(patches.unsqueeze(1))
        for conv, bn, (size, stride) in zip(self.convs, self.bns, self.pools):
            x = F.max_pool2d(bn(F.relu(conv(x))), size, stride)
        embedding = x.permute(0, 2, 3, 1).flatten(1)  # TF's [time, freq, channel] order
        return self.classifier(embedding), embedding

    def load_tf(self, ckpt: TFCheckpoint) -> None:
        _load_bn(self.input_bn, ckpt, "batch_normalization")
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns), start=1):
            _load_conv2d(conv, ckpt, f"{i}CNN")
            _load_bn(bn, ckpt, f"batch_normalization_{i}")
        _load_dense(self.classifier, ckpt, "dense")


def _copy(param: Tensor, value: np.ndarray) -> None:
    value = np.ascontiguousarray(value, dtype=np.float32)
    if tuple(param.shape) != value.shape:
        raise ValueError(f"checkpoint shape {value.shape} does not fit {tuple(param.shape)}")
    with torch.no_grad():
        param.copy_(torch.from_numpy(value))


def _load_bn(bn: nn.Module, ckpt: TFCheckpoint, scope: str) -> None:
    _copy(bn.weight, ckpt[f"{scope}/gamma"])
    _copy(bn.bias, ckpt[f"{scope}/beta"])
    _copy(bn.running_mean, ckpt[f"{scope}/moving_mean"])
    _copy(bn.running_var, ckpt[f"{scope}/moving_variance"])


def _load_conv2d(conv: nn.Conv2d, ckpt: TFCheckpoint, scope: str) -> None:
    _copy(conv.weight, ckpt[f"{scope}/kernel"].transpose(3, 2, 0, 1))  # HWIO -> OIHW
    _copy(conv.bias, ckpt[f"{scope}/bias"])


def _load_dense(linear: nn.Linear, ckpt: TFCheckpoint, scope: str) -> None:
    _copy(linear.weight, ckpt[f"{scope}/kernel"].T)  # [in, out] -> [out, in]
    _copy(linear.bias, ckpt[f"{scope}/bias"])


@contextmanager
def _no_tf32() -> Iterator[None]:
    """Run CUDA convolutions and matmuls in full float32.

    PyTorch lets cuDNN use TF32 (10-bit mantissa) for float32 convolutions by default;
    that moves these taggers' probabilities by up to ~5e-4 from the TensorFlow
    originals (measured on an H200), versus ~1e-6 in float32. The flags are process-wide,
    so they are restored on exit.
    """
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


class MusicnnTagger(nn.Module):
    """A musicnn tagger with the shipped weights; build it with :meth:`from_checkpoint`.

    ``forward(patches [B, 187, 96] float32 log-mel)`` returns ``{"tags": [B, 50]``
    probabilities, ``"embedding": [B, D]}`` with D = :data:`EMBEDDING_DIMS` [model]
    (200 for ``*_musicnn``, 256 for ``*_vgg``). Inference only: batch norm uses the
    stored statistics (the module is returned in eval mode, and the front end folds
    its batch norms into the pooling regardless of mode). On CUDA, convolutions run in
    full float32 (TF32 is switched off for the duration of the call).
    """

    def __init__(self, model_name: str):
        super().__init__()
        _check_model(model_name)
        self.model_name = model_name
        self.tags = tag_names(model_name)
        self.embedding_dim = EMBEDDING_DIMS[model_name]
        self.net = _Vgg() if model_name.endswith("_vgg") else _Musicnn()

    @classmethod
    def from_checkpoint(cls, model_name: str, device: str | torch.device = "cpu") -> MusicnnTagger:
        """Build ``model_name`` (one of :data:`MUSICNN_MODELS`) with its shipped weights."""
        tagger = cls(model_name)
        tagger.net.load_tf(TFCheckpoint(musicnn_checkpoint_dir(model_name)))
        return tagger.to(device).eval()

    def forward(self, patches: Tensor) -> dict[str, Tensor]:
        if patches.ndim != 3 or tuple(patches.shape[1:]) != (N_FRAMES, N_MELS):
            raise ValueError(
                f"expected patches [B, {N_FRAMES}, {N_MELS}], got {tuple(patches.shape)}"
            )
        if patches.is_cuda:
            with _no_tf32():
                logits, embedding = self.net(patches)
        else:
            logits, embedding = self.net(patches)
        return {"tags": torch.sigmoid(logits), "embedding": embedding}

    def tag_audio(self, audio: np.ndarray, batch_size: int = 32) -> dict[str, Tensor]:
        """Tag 16 kHz mono ``audio``: per-3-s-patch ``tags`` [n, 50] and ``embedding`` [n, D].

        Results are float32 on the CPU; average over patches for one clip-level vector.
        """
        patches = log_mel_patches(audio)
        device = next(self.parameters()).device
        outputs: dict[str, list[Tensor]] = {"tags": [], "embedding": []}
        with torch.inference_mode():
            for batch in patches.split(batch_size):
                for key, value in self(batch.to(device)).items():
                    outputs[key].append(value.float().cpu())
        return {key: torch.cat(values) for key, values in outputs.items()}
