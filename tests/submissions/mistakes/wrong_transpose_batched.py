# expect: qk_scores wrong_transpose
# Transposes k with .T, which is right for a matrix; with batch dimensions it reverses every dimension
# and the product raises.


def qk_scores(q, k):
    d = q.size(-1)
    return q @ k.T / math.sqrt(d)  # right for q (L, d), k (S, d) only
