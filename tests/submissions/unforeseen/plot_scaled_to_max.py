# slip: plot_attention plot_wrong_data
# source: course forum pattern: rescaling by the largest weight to fill the colour map, so the strongest cell is always bright
# Draws weights / weights.max() with vmin=0, vmax=1 instead of the weights themselves.


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    """Heatmap of weights (L, S): rows are queries, columns are keys."""
    import matplotlib.pyplot as plt

    if key_tokens is None:
        key_tokens = query_tokens
    data = torch.as_tensor(weights).detach().cpu().float().numpy()
    data = data / data.max()  # stretch to the full colour range
    if ax is None:
        fig, ax = plt.subplots()
    im = ax.imshow(data, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(key_tokens)))
    ax.set_xticklabels(key_tokens, rotation=90)
    ax.set_yticks(range(len(query_tokens)))
    ax.set_yticklabels(query_tokens)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.figure.colorbar(im, ax=ax)
    return ax
