# slip: qk_scores scaled_along blind3
# source: Swin Transformer V2 / "cosine attention" code copied into a plain dot-product exercise
# L2-normalises every query and key vector before the dot product, so the scores are scaled cosine similarities, not q.k / sqrt(d).


def qk_scores(q, k):
    d = q.size(-1)
    q = q / q.norm(dim=-1, keepdim=True)  # unit-length queries
    k = k / k.norm(dim=-1, keepdim=True)  # unit-length keys
    scores = torch.matmul(q, k.transpose(-2, -1))  # (..., L, S)
    return scores / math.sqrt(d)
