"""A LightningDataModule over the in-memory splits (kept apart: importing Lightning takes seconds)."""
from typing import Callable, Optional

import pytorch_lightning as pl

from .datasets import UnlabelledImages
from .splits import MnistSplits


class MnistDataModule(pl.LightningDataModule):
    """Mini-batches of the student's splits.

    labelled=True: (images, labels) of the labelled train / val sets (for classifiers).
    labelled=False: images only, the unlabelled set for training and the val images for
    validation (for autoencoders). train_transform(images) -> images is applied to every
    training mini-batch (online augmentation); validation batches are never transformed.
    """

    def __init__(self, splits: MnistSplits, batch_size: int, labelled: bool = True,
                 train_transform: Optional[Callable] = None):
        super().__init__()
        self.splits, self.batch_size = splits, batch_size
        self.labelled, self.train_transform = labelled, train_transform

    def train_dataloader(self):
        data = self.splits.train if self.labelled else self.splits.unlabelled
        return data.loader(self.batch_size, shuffle=True, batch_transform=self.train_transform)

    def val_dataloader(self):
        data = self.splits.val if self.labelled else UnlabelledImages(self.splits.val.images)
        return data.loader(max(self.batch_size, 1000))
