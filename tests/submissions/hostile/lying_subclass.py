# hostile: return a Tensor subclass that claims to equal anything and lies to torch functions.
import torch


class Liar(torch.Tensor):
    def __eq__(self, other):
        return True

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("allclose", "equal", "isclose"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


def qk_scores(q, k):
    return torch.zeros(q.shape[:-1] + (k.shape[-2],), dtype=q.dtype).as_subclass(Liar)
