"""The reasoning module: why each pick fits the video, in one or two checked sentences.

``Explainer`` (model.py) generates; ``OutputGuard`` (guard.py) checks every output against
the track's facts and falls back to a factual sentence; references.py and data.py make
the training and test data; training.py and evaluation.py train and measure it.
Heavy imports (torch, transformers) happen in model.py only.
"""

from core.explainer.facts import PickContext, TrackFacts
from core.explainer.guard import Explanation, OutputGuard, fallback_sentence, quote_preference

__all__ = ["Explanation", "OutputGuard", "PickContext", "TrackFacts", "fallback_sentence", "quote_preference"]
