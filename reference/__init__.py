"""The reference answers (``attention.py``), as the student contract names them. Never shipped to students."""

from pathlib import Path

from .attention import MultiHeadAttention, attention, causal_mask, plot_attention, qk_scores, softmax_with_temperature

#: The file that holds them, which the grader can grade like a submission (the self-check does).
SOURCE = Path(__file__).resolve().with_name("attention.py")

__all__ = [
    "qk_scores",
    "softmax_with_temperature",
    "causal_mask",
    "attention",
    "MultiHeadAttention",
    "plot_attention",
    "SOURCE",
]
