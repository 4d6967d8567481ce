# slip: qk_scores case_split blind
# source: forum answers and older seq2seq code that use torch.bmm for every attention product
# Uses torch.bmm, which only takes 3-D (B, L, d) tensors, so unbatched and multi-head inputs raise.


def qk_scores(q, k):
    d = q.size(-1)
    scores = torch.bmm(q, k.transpose(-2, -1))  # (B, L, d) @ (B, d, S) -> (B, L, S)
    return scores / math.sqrt(d)
