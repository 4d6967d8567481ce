# slip: plot_attention plot_wrong_data blind4
# source: course forums ("normalise before plotting" applied to weights that were already a softmax)
# runs a softmax over the rows again before plotting, flattening the heatmap towards uniform


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    """Heatmap of weights (L, S): rows are queries, columns are keys."""
    import matplotlib.pyplot as plt

    if key_tokens is None:
        key_tokens = query_tokens
    w = torch.as_tensor(weights).detach().cpu().float()
    data = torch.softmax(w, dim=-1).numpy()  # make sure each row sums to 1
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
