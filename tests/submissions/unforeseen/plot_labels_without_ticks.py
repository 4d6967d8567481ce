# slip: plot_attention plot_missing_labels blind5
# source: matplotlib Q&A threads (set_xticklabels without set_xticks, FixedFormatter warning)
# sets the tick labels without fixing the tick positions, so the labels land on matplotlib's automatic ticks and no longer line up with the rows and columns


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    """Heatmap of weights (L, S): rows are queries, columns are keys."""
    import matplotlib.pyplot as plt

    if key_tokens is None:
        key_tokens = query_tokens
    data = torch.as_tensor(weights).detach().cpu().float().numpy()
    if ax is None:
        fig, ax = plt.subplots()
    im = ax.imshow(data, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticklabels(key_tokens, rotation=90)
    ax.set_yticklabels(query_tokens)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.figure.colorbar(im, ax=ax)
    return ax
