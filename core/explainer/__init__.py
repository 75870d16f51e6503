"""The reasoning module: why each pick fits the video, in one or two checked sentences.

``Explainer`` (model.py) generates from the track's facts, the video's measured facts and
the request; ``OutputGuard`` (guard.py) checks every output and falls back to a factual
sentence, with every claim checked by claims.py against the facts and the request as
request.py reads it; references.py and data.py make the training and test data;
training.py trains; evaluation.py and outside.py (rendered clips x hand-written feedback)
measure it.
Heavy imports (torch, transformers) happen in model.py only.
"""

from core.explainer.facts import PickContext, TrackFacts
from core.explainer.guard import Explanation, OutputGuard, fallback_sentence, quote_preference

__all__ = ["Explanation", "OutputGuard", "PickContext", "TrackFacts", "fallback_sentence", "quote_preference"]
