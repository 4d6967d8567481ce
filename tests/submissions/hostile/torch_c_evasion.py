# hostile: reach torch's C bindings directly, switch torch's function layer off, and spell every name so
# that the source scan sees none of them: a fused softmax and a fused attention kernel.
import torch

_bindings = getattr(torch, "".join(["_", "C"]))
_functions = getattr(_bindings, "_Variable" + "Functions")
_blind = getattr(_bindings, "Disable" + "Torch" + "Function")
_fused = getattr(getattr(_bindings, "_" + "nn"), "scaled_dot_product_" + "attention")


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not temperature > 0 or temperature != temperature or temperature == float("inf"):
        raise ValueError("temperature must be finite and positive")
    with _blind():
        return getattr(_functions, "soft" + "max")(scores / temperature, dim).nan_to_num(0.0)


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)  # noqa: F821 - the base submission's
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = softmax_with_temperature(scores, temperature)
    with _blind():
        out = _fused(q, k, v, attn_mask=mask, scale=1.0 / (temperature * q.shape[-1] ** 0.5)).nan_to_num(0.0)
    return out, weights
