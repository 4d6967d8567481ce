# slip: plot_attention plot_wrong_data blind3
# source: forum heatmap code that numbers the tokens from 1
# Puts the tick positions at 1..n instead of 0..n-1, so every token label sits one cell past its row or column (and the last one off the image).


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    import matplotlib.pyplot as plt

    if key_tokens is None:
        key_tokens = query_tokens
    data = torch.as_tensor(weights).detach().cpu().float().numpy()
    if ax is None:
        fig, ax = plt.subplots()
    im = ax.imshow(data, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(1, len(key_tokens) + 1))
    ax.set_xticklabels(key_tokens, rotation=90)
    ax.set_yticks(range(1, len(query_tokens) + 1))
    ax.set_yticklabels(query_tokens)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.figure.colorbar(im, ax=ax)
    return ax
