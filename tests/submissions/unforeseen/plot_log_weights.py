# slip: plot_attention plot_wrong_data
# source: course forum pattern: a log colour scale "for contrast" because small weights all look the same dark colour
# Draws np.log(weights + 1e-9) instead of the weights (with the colour range left to imshow, since the logs are negative).


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    """Heatmap of weights (L, S): rows are queries, columns are keys."""
    import matplotlib.pyplot as plt
    import numpy as np

    if key_tokens is None:
        key_tokens = query_tokens
    data = torch.as_tensor(weights).detach().cpu().float().numpy()
    data = np.log(data + 1e-9)  # log for contrast
    if ax is None:
        fig, ax = plt.subplots()
    im = ax.imshow(data, cmap="viridis")
    ax.set_xticks(range(len(key_tokens)))
    ax.set_xticklabels(key_tokens, rotation=90)
    ax.set_yticks(range(len(query_tokens)))
    ax.set_yticklabels(query_tokens)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.figure.colorbar(im, ax=ax)
    return ax
