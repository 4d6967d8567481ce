# expect: plot_attention plot_missing_labels
# Draws the heatmap and colorbar but no token tick labels and no axis labels.


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    import matplotlib.pyplot as plt

    data = torch.as_tensor(weights).detach().cpu().float().numpy()
    if ax is None:
        fig, ax = plt.subplots()
    im = ax.imshow(data, cmap="viridis", vmin=0, vmax=1)
    ax.figure.colorbar(im, ax=ax)
    return ax
