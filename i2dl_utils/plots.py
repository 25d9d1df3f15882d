"""Figures for the notebooks (matplotlib): image grids, reconstructions, latent space, curves."""
import matplotlib.pyplot as plt
import numpy as np
import torch


GAP = 2          # pixels of white between the images of a grid


def _as_grid_images(images: torch.Tensor) -> torch.Tensor:
    """(N, 784) or (N, 1, 28, 28) -> (N, 28, 28) on the CPU."""
    return images.detach().cpu().float().reshape(len(images), 28, 28)


def _grid(rows: list, size: float, row_gap: int = GAP):
    """One axes showing rows of (N, 28, 28) images side by side (a single image: a grid of 50 axes
    took about ten times as long to draw). Returns (figure, axes, (x, y) of the images' corners)."""
    ncols = max(len(images) for images in rows)
    step_x, step_y = 28 + GAP, 28 + row_gap
    canvas = np.ones((len(rows) * step_y - row_gap, ncols * step_x - GAP), dtype=np.float32)   # white
    for r, images in enumerate(rows):
        for c, image in enumerate(images):
            canvas[r * step_y:r * step_y + 28, c * step_x:c * step_x + 28] = image.clamp(0, 1).numpy()
    fig, ax = plt.subplots(figsize=(ncols * size, len(rows) * size * step_y / step_x))
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    corners = [[(c * step_x, r * step_y) for c in range(len(images))] for r, images in enumerate(rows)]
    return fig, ax, corners


def show_images(images: torch.Tensor, titles=None, ncols: int = 10, size: float = 1.2):
    """A grid of grey images, with optional titles (labels) above them."""
    images = _as_grid_images(images)
    rows = [images[i:i + ncols] for i in range(0, len(images), ncols)]
    fig, ax, corners = _grid(rows, size, row_gap=12 if titles is not None else GAP)
    if titles is not None:
        for i, (x, y) in enumerate(corner for row in corners for corner in row):
            ax.text(x + 14, y - 1, str(titles[i]), ha="center", va="bottom", fontsize=9)
    fig.tight_layout()
    return fig


def reconstruction_grid(originals: torch.Tensor, reconstructions: dict, n: int = 10, size: float = 1.1):
    """Originals in the first row, then one row per entry of {name: reconstructions}."""
    rows = {"original": originals, **reconstructions}
    fig, ax, corners = _grid([_as_grid_images(images[:n]) for images in rows.values()], size)
    ax.set_yticks([row[0][1] + 14 for row in corners], list(rows), fontsize=9)
    ax.tick_params(length=0)
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
