# hostile: torch's softmax inside softmax_with_temperature, in lesson 3's cell of earlier lessons' work. Graded as
# lesson 3 (causal_mask, attention, plot_attention), softmax_with_temperature is not graded in the same run to
# answer for the call its caller attention makes through it.
import math

import torch.nn.functional as F


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    return F.softmax(scores / temperature, dim=dim).nan_to_num(0.0)  # an all -inf row: NaN, made 0
