"""The PyTorch musicnn port against the original TensorFlow outputs, and its checkpoint reader.

``tests/fixtures/musicnn/reference.npz`` holds what the original musicnn code computed
(see ``make_reference.py`` there) for signals regenerated here from ``signals.py``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core.encoders import musicnn
from core.encoders.musicnn import (
    MUSICNN_MODELS,
    SAMPLE_RATE,
    MusicnnTagger,
    log_mel,
    log_mel_patches,
    mel_filterbank,
    musicnn_checkpoint_dir,
    tag_names,
)
from core.encoders.tfcheckpoint import CheckpointFormatError, TFCheckpoint
from core.errors import WeightsMissing

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "musicnn"


def _load_signals():
    spec = importlib.util.spec_from_file_location("musicnn_signals", FIXTURES / "signals.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SIGNALS = _load_signals().SIGNALS


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "reference.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def audio() -> dict[str, np.ndarray]:
    return {name: make() for name, make in SIGNALS.items()}


_taggers: dict[str, MusicnnTagger] = {}


def tagger(model_name: str) -> MusicnnTagger:
    if model_name not in _taggers:
        _taggers[model_name] = MusicnnTagger.from_checkpoint(model_name)
    return _taggers[model_name]


# --- checkpoint reader ------------------------------------------------------------


def test_reader_lists_musicnn_variables_with_their_shapes():
    ckpt = TFCheckpoint(musicnn_checkpoint_dir("MTT_musicnn"))
    shapes = ckpt.shapes()
    # 64 model variables (11 batch norms x 4, 8 convs and 2 dense layers x 2), plus two
    # Adam slots per trainable one (42) and the two beta powers = 150 entries.
    assert len(ckpt) == 150
    model_vars = {n for n in shapes if not n.endswith(("/Adam", "/Adam_1", "_power"))}
    assert len(model_vars) == 64
    assert shapes["conv2d/kernel"] == (7, 38, 1, 204)  # timbral, 40% of the mel bins
    assert shapes["conv2d_1/kernel"] == (7, 67, 1, 204)  # timbral, 70% of the mel bins
    assert shapes["conv2d_2/kernel"] == (128, 1, 1, 51)  # temporal, 128 frames
    assert shapes["conv2d_4/kernel"] == (32, 1, 1, 51)
    assert shapes["conv2d_5/kernel"] == (7, 561, 1, 64)  # mid end over 561 front-end maps
    assert shapes["batch_normalization/moving_variance"] == (1,)
    assert shapes["batch_normalization_9/gamma"] == (1506,)  # max + mean pool of 753
    assert shapes["dense/kernel"] == (1506, 200)
    assert shapes["dense_1/kernel"] == (200, 50)
    assert shapes["beta1_power"] == ()
    kernel = ckpt["dense_1/kernel"]
    assert kernel.dtype == np.float32 and kernel.shape == (200, 50)
    assert np.isfinite(kernel).all() and kernel.std() > 0


def test_reader_lists_vgg_variables():
    shapes = TFCheckpoint(musicnn_checkpoint_dir("MSD_vgg")).shapes()
    assert shapes["1CNN/kernel"] == (3, 3, 1, 128)
    assert shapes["5CNN/kernel"] == (3, 3, 128, 128)
    assert shapes["dense/kernel"] == (256, 50)
    assert shapes["batch_normalization_5/moving_mean"] == (128,)


def test_reader_verifies_checksums_and_rejects_damage(tmp_path):
    src = musicnn_checkpoint_dir("MTT_musicnn")
    ckpt = TFCheckpoint(src)
    for name in ("batch_normalization_3/gamma", "dense_1/bias", "conv2d_4/kernel"):
        ckpt.read(name, verify=True)

    damaged = tmp_path / "ckpt"
    damaged.mkdir()
    for f in (".index", ".data-00000-of-00001"):
        shutil.copy(src / f, damaged / f)
    entry = ckpt.entries["dense_1/bias"]
    with open(damaged / ".data-00000-of-00001", "r+b") as f:
        f.seek(entry.offset + 5)
        byte = f.read(1)
        f.seek(entry.offset + 5)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(CheckpointFormatError, match="checksum"):
        TFCheckpoint(damaged).read("dense_1/bias", verify=True)

    (damaged / ".index").write_bytes((src / ".index").read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(CheckpointFormatError, match="magic"):
        TFCheckpoint(damaged)


@pytest.mark.slow
def test_every_model_variable_is_loaded():
    """Nothing in the port is left at its random initialisation."""
    for model_name in ("MTT_musicnn", "MTT_vgg"):
        ckpt = TFCheckpoint(musicnn_checkpoint_dir(model_name))
        stored = sum(
            int(np.prod(shape))
            for name, shape in ckpt.shapes().items()
            if not name.endswith(("/Adam", "/Adam_1", "_power"))
        )
        state = tagger(model_name).state_dict()
        ported = sum(v.numel() for k, v in state.items() if not k.endswith("num_batches_tracked"))
        assert ported == stored


# --- parity with the original TensorFlow implementation ------------------------------


def test_regenerated_signals_match_the_ones_the_reference_used(reference, audio):
    for name, samples in audio.items():
        assert samples.dtype == np.float32 and samples.shape == (10 * SAMPLE_RATE,)
        np.testing.assert_allclose(samples[:64], reference[f"{name}/audio_head"], atol=1e-7)
        assert float(samples.sum(dtype=np.float64)) == pytest.approx(
            float(reference[f"{name}/audio_sum"]), abs=1e-3
        )


def test_log_mel_patches_match_musicnn_batch_data(reference, audio):
    for name, samples in audio.items():
        patches = log_mel_patches(samples)
        # 10 s -> 626 frames -> three whole 187-frame patches; the rest is dropped.
        assert patches.shape == (3, 187, 96) and patches.dtype == torch.float32
        np.testing.assert_allclose(
            patches[0].numpy(), reference[f"{name}/log_mel_patch0"], rtol=0, atol=1e-5
        )


_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.slow
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=_cuda)])
@pytest.mark.parametrize("model_name", MUSICNN_MODELS)
def test_tags_and_embeddings_match_tensorflow(model_name, device, reference, audio):
    # On CUDA this also checks that TF32 is kept out (PyTorch enables it for cuDNN
    # convolutions by default, which costs ~5e-4 in tag probability).
    model = tagger(model_name) if device == "cpu" else MusicnnTagger.from_checkpoint(model_name, device)
    for name, samples in audio.items():
        out = model.tag_audio(samples)
        ref_tags = reference[f"{model_name}/{name}/tags"]
        ref_embedding = reference[f"{model_name}/{name}/embedding"]
        assert out["tags"].shape == ref_tags.shape == (3, 50)
        assert out["embedding"].shape == ref_embedding.shape == (3, model.embedding_dim)
        np.testing.assert_allclose(out["tags"].numpy(), ref_tags, rtol=0, atol=1e-4)
        np.testing.assert_allclose(out["embedding"].numpy(), ref_embedding, rtol=0, atol=1e-4)


def test_reference_was_made_in_float32_with_the_expected_stack(reference):
    meta = json.loads(str(reference["meta"]))
    assert meta["musicnn"] == "0.1.0" and meta["librosa"] == "0.11.0"
    assert meta["tensorflow"].startswith("2.15")
    assert set(meta["models"]) == set(MUSICNN_MODELS)


# --- front end details ---------------------------------------------------------------


def test_mel_front_end_equals_librosa(reference):
    """librosa's own output, stored by make_reference.py (importing librosa here costs ~40 s)."""
    np.testing.assert_allclose(
        mel_filterbank(), reference["librosa/mel_filterbank"], rtol=1e-5, atol=1e-8
    )
    odd = _load_signals().odd_length_noise()
    expected = reference["odd_length_noise/log_mel"]
    assert expected.shape == (1 + 12345 // 256, 96)
    np.testing.assert_allclose(log_mel(odd), expected, rtol=0, atol=1e-5)


def test_short_audio_is_zero_padded_to_one_patch():
    one_second = 0.3 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)
    patches = log_mel_patches(one_second.astype(np.float32))
    assert patches.shape == (1, 187, 96)
    assert patches[0, :60].amax() > 1.0  # the tone
    assert patches[0, 70:].abs().max() == 0.0  # silence after it: log10(1) = 0
    assert log_mel_patches(np.zeros(0, np.float32)).shape == (1, 187, 96)


def test_patch_hop_can_overlap():
    y = np.zeros(10 * SAMPLE_RATE, np.float32)
    assert log_mel_patches(y, hop_frames=93).shape == (5, 187, 96)


def test_bad_audio_is_rejected():
    with pytest.raises(ValueError, match="mono"):
        log_mel_patches(np.zeros((2, SAMPLE_RATE), np.float32))
    with pytest.raises(ValueError, match="float"):
        log_mel_patches(np.zeros(SAMPLE_RATE, np.int16))
    with pytest.raises(ValueError, match="NaN"):
        log_mel_patches(np.full(SAMPLE_RATE, np.nan, np.float32))


# --- behaviour ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("model_name", ["MTT_musicnn", "MSD_musicnn", "MTT_vgg"])
def test_sine_and_white_noise_get_different_top_tags(model_name):
    t = np.arange(6 * SAMPLE_RATE) / SAMPLE_RATE
    sine = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    noise = np.random.default_rng(0).normal(0, 0.3, t.size).astype(np.float32)
    model = tagger(model_name)
    names = tag_names(model_name)
    probs = {
        label: dict(zip(names, model.tag_audio(y)["tags"].mean(0).tolist()))
        for label, y in (("sine", sine), ("noise", noise))
    }
    top = {label: max(p, key=p.get) for label, p in probs.items()}
    assert top["sine"] != top["noise"], top
    if model_name.startswith("MTT"):
        # The MTT vocabulary has words for the obvious difference.
        assert probs["noise"]["loud"] > probs["sine"]["loud"]
        assert probs["sine"]["quiet"] > probs["noise"]["quiet"]


@pytest.mark.slow
def test_batch_size_does_not_change_results(audio):
    model = tagger("MTT_musicnn")
    full = model.tag_audio(audio["click_track"], batch_size=32)
    single = model.tag_audio(audio["click_track"], batch_size=1)
    torch.testing.assert_close(full["embedding"], single["embedding"], rtol=0, atol=1e-5)


def test_gemm_form_of_the_mid_end_conv_matches_the_convolution():
    """The form used on CUDA, checked here on the CPU against the plain convolution."""
    conv = MusicnnTagger("MTT_musicnn").net.midend_convs[0]  # random weights suffice
    h = torch.randn(3, conv.in_channels, 187, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(
            musicnn._conv_over_time(conv, h, as_gemm=True), conv(h), rtol=1e-5, atol=1e-4
        )


def test_forward_rejects_wrong_patch_shape():
    with pytest.raises(ValueError, match="187"):
        MusicnnTagger("MTT_musicnn")(torch.zeros(1, 100, 96))


def test_tag_vocabularies():
    mtt, msd = tag_names("MTT_musicnn"), tag_names("MSD_vgg")
    assert len(mtt) == len(msd) == 50
    assert mtt[:3] == ["guitar", "classical", "slow"] and "no vocals" in mtt
    assert msd[:3] == ["rock", "pop", "alternative"] and "Hip-Hop" in msd
    with pytest.raises(ValueError, match="MTT_musicnn"):
        tag_names("MTT_resnet")


def test_missing_package_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setattr(musicnn, "package_dir", lambda module: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps musicnn==0\.1\.0") as err:
        musicnn_checkpoint_dir("MSD_musicnn")
    assert isinstance(err.value, WeightsMissing)
    monkeypatch.setattr(musicnn, "package_dir", lambda module: tmp_path)  # package, no weights
    with pytest.raises(FileNotFoundError, match="MSD_musicnn"):
        MusicnnTagger.from_checkpoint("MSD_musicnn")
