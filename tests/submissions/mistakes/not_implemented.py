# expect: qk_scores not_implemented
# The stub was never filled in.


def qk_scores(q, k):
    raise NotImplementedError
