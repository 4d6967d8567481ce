# expect: qk_scores non_tensor_output
# Does the matrix product in NumPy and returns a numpy array instead of a tensor.
import numpy as np


def qk_scores(q, k):
    qn = q.detach().cpu().numpy()
    kn = k.detach().cpu().numpy()
    return qn @ np.swapaxes(kn, -1, -2) / np.sqrt(qn.shape[-1])  # (..., L, S)
