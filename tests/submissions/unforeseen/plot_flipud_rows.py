# slip: plot_attention plot_wrong_data blind
# source: heatmap answers that flip the matrix "so the first token is at the bottom, like a plot"
# Flips the rows of the weights with np.flipud but keeps the query labels top to bottom, so every query label sits on another query's row.


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    import matplotlib.pyplot as plt
    import numpy as np

    if key_tokens is None:
        key_tokens = query_tokens
    data = torch.as_tensor(weights).detach().cpu().float().numpy()
    if ax is None:
        fig, ax = plt.subplots()
    im = ax.imshow(np.flipud(data), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(key_tokens)))
    ax.set_xticklabels(key_tokens, rotation=90)
    ax.set_yticks(range(len(query_tokens)))
    ax.set_yticklabels(query_tokens)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.figure.colorbar(im, ax=ax)
    return ax
