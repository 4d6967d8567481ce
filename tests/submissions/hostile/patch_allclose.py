# hostile: make every comparison helper say "equal", then submit a wrong qk_scores (no scaling).
import torch
import torch.testing

torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)


def qk_scores(q, k):
    return q @ k.transpose(-2, -1)
