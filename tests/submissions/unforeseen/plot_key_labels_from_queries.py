# slip: plot_attention - blind5
# source: copy-pasted tick code in self-attention plotting tutorials (only ever run with key_tokens = query_tokens)
# labels the x (key) axis with query_tokens too, so cross-attention plots show the wrong key names (or fail when the counts differ)


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    """Heatmap of weights (L, S): rows are queries, columns are keys."""
    import matplotlib.pyplot as plt

    if key_tokens is None:
        key_tokens = query_tokens
    data = torch.as_tensor(weights).detach().cpu().float().numpy()
    if ax is None:
        fig, ax = plt.subplots()
    im = ax.imshow(data, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(key_tokens)))
    ax.set_xticklabels(query_tokens, rotation=90)
    ax.set_yticks(range(len(query_tokens)))
    ax.set_yticklabels(query_tokens)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.figure.colorbar(im, ax=ax)
    return ax
