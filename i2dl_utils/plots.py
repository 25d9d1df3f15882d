"""Figures for the notebooks (matplotlib): image grids, reconstructions, latent space, curves."""
import matplotlib.pyplot as plt
import torch


def _as_grid_images(images: torch.Tensor) -> torch.Tensor:
    """(N, 784) or (N, 1, 28, 28) -> (N, 28, 28) on the CPU."""
    return images.detach().cpu().reshape(len(images), 28, 28)


def show_images(images: torch.Tensor, titles=None, ncols: int = 10, size: float = 1.2):
    """A grid of grey images, with optional titles (labels) above them."""
    images = _as_grid_images(images)
    nrows = (len(images) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image) in enumerate(zip(axes.flat, images)):
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    fig.tight_layout()
    return fig


def reconstruction_grid(originals: torch.Tensor, reconstructions: dict, n: int = 10, size: float = 1.1):
    """Originals in the first row, then one row per entry of {name: reconstructions}."""
    rows = {"original": originals, **reconstructions}
    fig, axes = plt.subplots(len(rows), n, figsize=(n * size, len(rows) * size * 1.1), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        images = _as_grid_images(images[:n]).clamp(0, 1)
        for c in range(n):
            axes[r, c].imshow(images[c], cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def latent_scatter(codes: torch.Tensor, labels: torch.Tensor, title: str = "latent codes (first 2 principal components)"):
    """Project codes (N, D) onto their two principal components and colour by label."""
    codes = codes.detach().cpu().float()
    centred = codes - codes.mean(dim=0)
    _, _, v = torch.pca_lowrank(centred, q=2, center=False)
    xy = centred @ v[:, :2]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    points = ax.scatter(xy[:, 0], xy[:, 1], c=labels.cpu(), cmap="tab10", s=8, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_title(title)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    fig.tight_layout()
    return fig


def curves(series: dict, xlabel: str, ylabel: str, title: str = None, ax=None):
    """One line per {name: values} against their index (steps or epochs)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5))
    for name, values in series.items():
        ax.plot(range(1, len(values) + 1), values, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    ax.figure.tight_layout()
    return ax
