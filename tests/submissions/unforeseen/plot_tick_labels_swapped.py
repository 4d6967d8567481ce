# slip: plot_attention plot_wrong_data blind
# source: attention heatmaps in blog posts that put the source sentence on the y axis and the output on the x axis
# Draws weights correctly but labels the x axis (keys) with the query tokens and the y axis (queries) with the key tokens.


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    import matplotlib.pyplot as plt

    if key_tokens is None:
        key_tokens = query_tokens
    data = torch.as_tensor(weights).detach().cpu().float().numpy()
    if ax is None:
        fig, ax = plt.subplots()
    im = ax.imshow(data, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(query_tokens)))
    ax.set_xticklabels(query_tokens, rotation=90)
    ax.set_yticks(range(len(key_tokens)))
    ax.set_yticklabels(key_tokens)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.figure.colorbar(im, ax=ax)
    return ax
