# hostile: torch's fused multi-head attention inside a helper named `attention` (with a signature of its own), so
# that the forbidden call looks like a callee's. Graded as lesson 4 (multi_head_attention only), no task named
# attention is graded in the same run to answer for it.
import torch
import torch.nn.functional as F
from torch import nn


def attention(x, module, causal):
    L = x.shape[1]
    blocked = ~torch.ones(L, L, dtype=torch.bool, device=x.device).tril() if causal else None  # True: hidden
    xt = x.transpose(0, 1)  # (L, B, d_model), as torch's function takes it
    in_w = torch.cat([module.W_q.weight, module.W_k.weight, module.W_v.weight])
    in_b = torch.cat([module.W_q.bias, module.W_k.bias, module.W_v.bias]) if module.W_q.bias is not None else None
    out, weights = F.multi_head_attention_forward(
        xt, xt, xt, module.d_model, module.n_heads, in_w, in_b, None, None, False, 0.0, module.W_o.weight,
        module.W_o.bias, training=False, need_weights=True, attn_mask=blocked, average_attn_weights=False)
    return out.transpose(0, 1), weights


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads = d_model, n_heads
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, causal=False):
        return attention(x, self, causal)
