"""In-memory MNIST datasets: whole splits as float tensors, batches by tensor indexing."""
from typing import Callable, Optional

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler


def to_tensor(images: np.ndarray, flatten: bool = False) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 in [0, 1], shape (N, 1, 28, 28) or (N, 784) if flatten."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    return x.reshape(len(x), -1) if flatten else x.unsqueeze(1)


class _Batches(Dataset):
    """Indexed with a list of indices, returns the whole batch (see ImagesBase.loader)."""

    def __init__(self, data: "ImagesBase", batch_transform: Optional[Callable]):
        self.data, self.batch_transform = data, batch_transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, indices):
        batch = self.data.batch(torch.as_tensor(indices))
        if self.batch_transform is None:
            return batch
        if isinstance(batch, tuple):
            return (self.batch_transform(batch[0]),) + batch[1:]
        return self.batch_transform(batch)


class ImagesBase(Dataset):
    images: torch.Tensor
    transform: Optional[Callable]

    def __len__(self):
        return len(self.images)

    def _images(self, index):
        if self.transform is None:
            return self.images[index]
        if isinstance(index, int):
            return self.transform(self.images[index])
        return torch.stack([self.transform(x) for x in self.images[index]])

    def loader(self, batch_size: int, shuffle: bool = False,
               batch_transform: Optional[Callable] = None) -> DataLoader:
        """Mini-batches by tensor indexing (no per-sample Python on the hot path).

        batch_transform(images) -> images is applied to every mini-batch (online augmentation).
        Shuffling draws from torch's global RNG, so seeding torch makes it reproducible.
        """
        sampler = RandomSampler(self) if shuffle else SequentialSampler(self)
        return DataLoader(_Batches(self, batch_transform), batch_size=None,
                          sampler=BatchSampler(sampler, batch_size, drop_last=False))


class LabelledImages(ImagesBase):
    """Images (N, 1, 28, 28) or (N, 784) float in [0, 1] and labels (N,) int64.

    dataset[i] -> (image, label); `transform` (optional) is applied to each image.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Optional[Callable] = None):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels, self.transform = images, labels, transform

    def __getitem__(self, index):
        return self._images(index), self.labels[index]

    def batch(self, index: torch.Tensor):
        return self._images(index), self.labels[index]


class UnlabelledImages(ImagesBase):
    """Images only: dataset[i] -> image. There are no labels to leak."""

    def __init__(self, images: torch.Tensor, transform: Optional[Callable] = None):
        self.images, self.transform = images, transform

    def __getitem__(self, index):
        return self._images(index)

    def batch(self, index: torch.Tensor):
        return self._images(index)
