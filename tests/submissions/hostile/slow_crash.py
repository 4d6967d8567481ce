# hostile: load slowly, then end the whole process in three tasks. Each crash must cost a fork of the
# loaded submission, not a reload: grading costs one load plus the tasks' own time.
import os
import time

print("attnlab-hostile: slow_crash loading", flush=True)
time.sleep(1.5)


def qk_scores(q, k):
    os._exit(3)


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    os._exit(3)


def causal_mask(seq_len, device=None):
    os._exit(3)
