# slip: qk_scores region_split blind4
# source: loop-based homework solutions on course forums (range(L - 1) copied from a "next token" exercise)
# scores are filled one query row at a time, but the loop stops one row early, leaving the last row at 0


def qk_scores(q, k):
    """q: (..., L, d), k: (..., S, d) -> scores (..., L, S)."""
    d = q.size(-1)
    L, S = q.size(-2), k.size(-2)
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    scores = torch.zeros(*batch, L, S, dtype=q.dtype, device=q.device)
    kt = k.transpose(-2, -1)  # (..., d, S)
    for i in range(L - 1):
        scores[..., i, :] = torch.matmul(q[..., i : i + 1, :], kt).squeeze(-2) / math.sqrt(d)
    return scores
