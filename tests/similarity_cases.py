"""Hand-written second solutions and disguised copies, for the similarity tests and benchmark.

ALTERNATIVES and THIRD: {grade id: whole cell}, correct solutions of a second and a third author,
written independently of the kit's (other structure, other helpers, other names), with the
release's template lines kept as a student would keep them. disguise(): what a student does to
hide a copy (rename the variables, rewrite the comments, swap independent neighbouring lines).
"""
import re

ALTERNATIVES = {
    "augmentation_solution": '''\
def random_shift(images, max_shift=2):
    """Shift each image (N, 1, 28, 28) by a random integer offset in [-max_shift, max_shift]."""
    # TODO: pad by max_shift on every side, draw (dy, dx) per image, cut out 28 x 28 windows.
    size = images.shape[-1]
    canvas = images.new_zeros(images.shape[0], 1, size + 2 * max_shift, size + 2 * max_shift)
    canvas[:, :, max_shift:max_shift + size, max_shift:max_shift + size] = images
    shifted = []
    for k in range(images.shape[0]):
        top, left = torch.randint(0, 2 * max_shift + 1, (2,)).tolist()
        shifted.append(canvas[k, :, top:top + size, left:left + size])
    return torch.stack(shifted)


def random_rotation(images, max_degrees=10.0):
    """Rotate each image (N, 1, 28, 28) by a random angle in [-max_degrees, max_degrees] degrees."""
    # TODO: one angle per image, a (N, 2, 3) rotation matrix, then affine_grid and grid_sample.
    phi = torch.empty(images.shape[0]).uniform_(-max_degrees, max_degrees) * math.pi / 180
    theta = torch.zeros(images.shape[0], 2, 3)
    theta[:, 0, 0] = phi.cos()
    theta[:, 0, 1] = -phi.sin()
    theta[:, 1, 0] = phi.sin()
    theta[:, 1, 1] = phi.cos()
    rotated = F.grid_sample(images, F.affine_grid(theta, images.size(), align_corners=False),
                            align_corners=False)
    return torch.clamp(rotated, 0.0, 1.0)


def augment_offline(images, labels, copies, transform):
    """Originals plus `copies` transformed copies: ((copies + 1) * N, ...) images and labels."""
    # TODO: concatenate the originals and the transformed copies; repeat the labels to match.
    all_images, all_labels = images, labels
    for _ in range(copies):
        all_images = torch.cat([all_images, transform(images)], dim=0)
        all_labels = torch.cat([all_labels, labels], dim=0)
    return all_images, all_labels
''',
    "encoder_solution": '''\
class Encoder(nn.Module):
    """Images (N, 1, 28, 28) or (N, input_size) -> codes (N, latent_dim)."""

    def __init__(self, hparams, input_size=28 * 28, latent_dim=20):
        super().__init__()
        self.hparams = hparams
        self.input_size = input_size
        self.latent_dim = latent_dim
        # TODO: self.encoder = nn.Sequential(...) as described above.
        drop = hparams.get("dropout", 0.5)
        widths = [input_size, 500, 100]
        layers = []
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU(), nn.Dropout(drop)]
        layers += [nn.Linear(widths[-1], latent_dim), nn.BatchNorm1d(latent_dim), nn.ReLU()]
        self.encoder = nn.Sequential(*layers)

    def forward(self, x):
        return self.encoder(x.reshape(x.shape[0], -1))
''',
    "autoencoder_solution": '''\
class Decoder(nn.Module):
    """Codes (N, latent_dim) -> reconstructions (N, output_size)."""

    def __init__(self, hparams, latent_dim=20, output_size=28 * 28):
        super().__init__()
        self.hparams = hparams
        # TODO: self.decoder = nn.Sequential(...), the encoder's layers in reverse order.
        rate = hparams.get("dropout", 0.5)
        sizes = [latent_dim, 100, 500]
        blocks = []
        for a, b in zip(sizes, sizes[1:]):
            blocks.extend([nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(), nn.Dropout(rate)])
        blocks.extend([nn.Linear(sizes[-1], output_size), nn.Sigmoid()])
        self.decoder = nn.Sequential(*blocks)

    def forward(self, z):
        return self.decoder(z)


class Autoencoder(pl.LightningModule):
    """Images (N, 1, 28, 28) -> reconstructions (N, 784), trained with MSE."""

    def __init__(self, hparams, encoder, decoder):
        super().__init__()
        self.save_hyperparameters(hparams)
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x):
        # TODO: encode, then decode.
        code = self.encoder(x)
        return self.decoder(code)

    def training_step(self, batch, batch_idx):
        # TODO: MSE between self(batch) and the flattened images; log it as "train_loss"; return it.
        target = batch.view(batch.shape[0], -1)
        error = ((self.forward(batch) - target) ** 2).mean()
        self.log("train_loss", error)
        return error

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", F.mse_loss(self(batch), batch.reshape(len(batch), -1)), prog_bar=True)

    def configure_optimizers(self):
        # TODO: an optimizer over all parameters (encoder and decoder).
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return torch.optim.Adam(params, lr=self.hparams.learning_rate)
''',
    "batchnorm_forward": '''\
def batchnorm_forward(x, gamma, beta, bn_param):
    """BatchNorm forward pass.

    x: (N, D) input; gamma, beta: (D,) scale and shift; bn_param: dict (see the table above).
    Returns out (N, D) and cache (what batchnorm_backward needs; None in test mode).
    """
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    # TODO: set `out` and `cache` for mode 'train' (also update running_mean and running_var) and
    # for mode 'test'; raise a ValueError for any other mode.
    if mode not in ("train", "test"):
        raise ValueError("mode must be 'train' or 'test', got %s" % mode)
    if mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        cache = None
    else:
        batch_mean = np.sum(x, axis=0) / N
        centered = x - batch_mean
        batch_var = np.sum(centered * centered, axis=0) / N
        std = np.sqrt(batch_var + eps)
        normalized = centered / std
        out = normalized * gamma + beta
        running_mean = running_mean * momentum + batch_mean * (1 - momentum)
        running_var = running_var * momentum + batch_var * (1 - momentum)
        cache = (normalized, centered, 1.0 / std, std, gamma)

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache
''',
    "batchnorm_backward": '''\
def batchnorm_backward(dout, cache):
    """BatchNorm backward pass (train mode), step by step through the computational graph.

    dout: (N, D) upstream gradient; cache: from batchnorm_forward.
    Returns dx (N, D), dgamma (D,), dbeta (D,).
    """
    # TODO: backpropagate dout through each step of the forward pass, in reverse order.
    x_hat, xmu, ivar, sqrtvar, gamma = cache
    n_samples, n_features = dout.shape
    # last step first: out = gamma * x_hat + beta
    dgamma = (dout * x_hat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    grad_xhat = gamma * dout
    # x_hat = xmu * ivar
    grad_ivar = (grad_xhat * xmu).sum(axis=0)
    grad_xmu1 = grad_xhat * ivar
    # ivar = 1 / sqrtvar, sqrtvar = sqrt(var + eps)
    grad_sqrtvar = grad_ivar * (-ivar ** 2)
    grad_var = grad_sqrtvar * 0.5 * ivar
    # var = mean(sq), sq = xmu ** 2
    grad_sq = np.ones((n_samples, n_features)) * grad_var / n_samples
    grad_xmu2 = 2 * xmu * grad_sq
    # xmu = x - mu, mu = mean(x)
    grad_x1 = grad_xmu1 + grad_xmu2
    grad_mu = -1 * grad_x1.sum(axis=0)
    grad_x2 = np.ones((n_samples, n_features)) * grad_mu / n_samples
    dx = grad_x1 + grad_x2
    return dx, dgamma, dbeta
''',
    "batchnorm_backward_alt": '''\
def batchnorm_backward_alt(dout, cache):
    """BatchNorm backward pass (train mode) in closed form.

    dout: (N, D) upstream gradient; cache: from batchnorm_forward.
    Returns dx (N, D), dgamma (D,), dbeta (D,).
    """
    # TODO: compute dbeta and dgamma as before, and dx with your simplified expression.
    x_hat, xmu, ivar, sqrtvar, gamma = cache
    m = len(dout)
    dbeta = dout.sum(0)
    dgamma = np.einsum("nd,nd->d", dout, x_hat)
    dxhat = dout * gamma
    dx = (ivar / m) * (m * dxhat - dxhat.sum(0) - x_hat * (dxhat * x_hat).sum(0))
    return dx, dgamma, dbeta
''',
    "dropout_forward": '''\
def dropout_forward(x, dropout_param):
    """Inverted dropout, forward pass.

    x: input of any shape; dropout_param: dict with p (probability of DROPPING a unit), mode
    ('train' or 'test') and optionally seed.
    Returns out (shaped like x) and cache = (dropout_param, mask).
    """
    p, mode = dropout_param["p"], dropout_param["mode"]

    # TODO: in train mode, drop each unit with probability p and scale the kept ones by 1 / (1 - p)
    # (use the seed if one is given); in test mode, return x unchanged (mask = None).
    if mode == "test":
        out, mask = x, None
    elif mode == "train":
        if "seed" in dropout_param:
            np.random.seed(dropout_param["seed"])
        keep = 1.0 - p
        mask = np.random.binomial(1, keep, size=x.shape) / keep
        out = mask * x
    else:
        raise ValueError("Invalid dropout mode %s" % mode)

    return out, (dropout_param, mask)
''',
    "hparams_solution": '''\
# TODO: choose the classifier's hyperparameters (the tests read "learning_rate" and "dropout").
hparams = dict(batch_size=64, learning_rate=0.05, momentum=0.9, epochs=40, dropout=0.3)
''',
    "transfer_solution": '''\
seed_everything(0)
# TODO: transfer_classifier = a Classifier on a deep copy of autoencoder.encoder; train it with
# make_trainer(...).fit(...) on the labelled data, as for the baseline.
frozen_copy = copy.deepcopy(autoencoder.encoder)
transfer_classifier = Classifier(hparams, encoder=frozen_copy)
labelled = MnistDataModule(splits, batch_size=hparams["batch_size"])
make_trainer(max_epochs=hparams["epochs"], name="transfer").fit(transfer_classifier, labelled)
print(f"transfer: val accuracy {accuracy(transfer_classifier, splits.val.images, splits.val.labels):.3f}")
''',
    "classifier_solution": '''\
class Classifier(pl.LightningModule):
    """Encoder + linear head: images (N, 1, 28, 28) -> logits (N, 10)."""

    def __init__(self, hparams, encoder):
        super().__init__()
        self.save_hyperparameters(hparams)  # readable as self.hparams["learning_rate"] etc.
        self.encoder = encoder
        # TODO: self.model = the head, from encoder.latent_dim inputs to 10 classes.
        n_classes = 10
        self.model = nn.Sequential(nn.Linear(in_features=encoder.latent_dim, out_features=n_classes))
        self.train_accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=10)
        self.val_accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=10)

    def forward(self, x):
        return self.model(self.encoder(x))

    def training_step(self, batch, batch_idx):
        images, labels = batch
        # TODO: logits, cross-entropy loss; update self.train_accuracy and log it; return the loss.
        scores = self.forward(images)
        ce = nn.functional.cross_entropy(scores, labels)
        self.train_accuracy.update(scores.argmax(dim=1), labels)
        self.log_dict({"train_loss": ce, "train_acc": self.train_accuracy}, on_step=False, on_epoch=True)
        return ce

    def validation_step(self, batch, batch_idx):
        images, labels = batch
        logits = self(images)
        self.val_accuracy(logits, labels)
        self.log("val_loss", F.cross_entropy(logits, labels))
        self.log("val_acc", self.val_accuracy, prog_bar=True)

    def configure_optimizers(self):
        # TODO: an optimizer over all parameters with self.hparams["learning_rate"] (we use SGD with
        # Nesterov momentum and a cosine decay of the learning rate, stepped every batch).
        opt = torch.optim.SGD(self.parameters(), self.hparams.learning_rate, momentum=self.hparams.momentum,
                              nesterov=True)
        steps = self.trainer.estimated_stepping_batches
        sched = {"scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps), "interval": "step"}
        return [opt], [sched]
''',
}

# A third author, for the tasks where independent solutions come closest.
THIRD = {
    "encoder_solution": '''\
class Encoder(nn.Module):
    """Images (N, 1, 28, 28) or (N, input_size) -> codes (N, latent_dim)."""

    def __init__(self, hparams, input_size=28 * 28, latent_dim=20):
        super().__init__()
        self.hparams = hparams
        self.input_size = input_size
        self.latent_dim = latent_dim
        # TODO: self.encoder = nn.Sequential(...) as described above.
        p_drop = hparams["dropout"] if "dropout" in hparams else 0.5

        def block(n_in, n_out, dropout=True):
            layers = [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU()]
            return layers + [nn.Dropout(p_drop)] if dropout else layers

        self.encoder = nn.Sequential(*block(input_size, 500), *block(500, 100),
                                     *block(100, latent_dim, dropout=False))

    def forward(self, x):
        return self.encoder(x.reshape(x.shape[0], -1))
''',
    "batchnorm_forward": '''\
def batchnorm_forward(x, gamma, beta, bn_param):
    """BatchNorm forward pass.

    x: (N, D) input; gamma, beta: (D,) scale and shift; bn_param: dict (see the table above).
    Returns out (N, D) and cache (what batchnorm_backward needs; None in test mode).
    """
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    # TODO: set `out` and `cache` for mode 'train' (also update running_mean and running_var) and
    # for mode 'test'; raise a ValueError for any other mode.
    if mode == "train":
        sample_mean = x.mean(axis=0)
        sample_var = x.var(axis=0)
        inv_std = 1 / np.sqrt(sample_var + eps)
        x_norm = (x - sample_mean) * inv_std
        out = gamma * x_norm + beta
        cache = (x_norm, x - sample_mean, inv_std, 1 / inv_std, gamma)
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
    elif mode == "test":
        out = gamma * ((x - running_mean) / np.sqrt(running_var + eps)) + beta
        cache = None
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache
''',
    "batchnorm_backward": '''\
def batchnorm_backward(dout, cache):
    """BatchNorm backward pass (train mode), step by step through the computational graph.

    dout: (N, D) upstream gradient; cache: from batchnorm_forward.
    Returns dx (N, D), dgamma (D,), dbeta (D,).
    """
    # TODO: backpropagate dout through each step of the forward pass, in reverse order.
    xhat, xc, istd, std, g = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(xhat * dout, axis=0)
    dxhat = dout * g
    dxc = dxhat * istd
    distd = np.sum(dxhat * xc, axis=0)
    dstd = -distd / (std * std)
    dvar = dstd / (2 * std)
    dxc = dxc + (2.0 / n) * xc * dvar
    dmu = -np.sum(dxc, axis=0)
    dx = dxc + dmu / n
    return dx, dgamma, dbeta
''',
    "batchnorm_backward_alt": '''\
def batchnorm_backward_alt(dout, cache):
    """BatchNorm backward pass (train mode) in closed form.

    dout: (N, D) upstream gradient; cache: from batchnorm_forward.
    Returns dx (N, D), dgamma (D,), dbeta (D,).
    """
    # TODO: compute dbeta and dgamma as before, and dx with your simplified expression.
    x_hat, _, inv_std, _, gamma = cache
    N = dout.shape[0]
    dgamma = (x_hat * dout).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dx = (1. / N) * gamma * inv_std * (N * dout - np.sum(dout, axis=0) - x_hat * np.sum(dout * x_hat, axis=0))
    return dx, dgamma, dbeta
''',
    "dropout_forward": '''\
def dropout_forward(x, dropout_param):
    """Inverted dropout, forward pass.

    x: input of any shape; dropout_param: dict with p (probability of DROPPING a unit), mode
    ('train' or 'test') and optionally seed.
    Returns out (shaped like x) and cache = (dropout_param, mask).
    """
    p, mode = dropout_param["p"], dropout_param["mode"]

    # TODO: in train mode, drop each unit with probability p and scale the kept ones by 1 / (1 - p)
    # (use the seed if one is given); in test mode, return x unchanged (mask = None).
    if mode == "train":
        generator = np.random.RandomState(dropout_param["seed"]) if "seed" in dropout_param else np.random
        mask = (generator.rand(*x.shape) >= p).astype(x.dtype) * (1.0 / (1.0 - p))
        out = x * mask
    elif mode == "test":
        out = x.copy()
        mask = None
    else:
        raise ValueError(mode)

    return out, (dropout_param, mask)
''',
}

# Independent neighbouring lines of the kit's solutions that a disguise swaps (first, second).
SWAPS = [("    dy = torch.randint", "    dx = torch.randint"),
         ("    dbeta = np.sum(dout, axis=0)", "    dgamma = np.sum(dout * x_hat, axis=0)"),
         ("        running_mean = momentum", "        running_var = momentum"),
         ("        mask = None", "        out = x")]
ASSIGNED = re.compile(r"^\s*([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*(?:[-+*/]?=)(?!=)", re.M)


def disguise(code: str, template: str) -> str:
    """The cell with the student's own variables renamed (also in the release's return lines, as the
    code would break otherwise), own comments rewritten and the neighbouring lines in SWAPS swapped."""
    given = {line.strip() for line in template.splitlines()}
    names = {n.strip() for match in ASSIGNED.finditer(code) for n in match.group(1).split(",")}
    names -= {n.strip() for line in given for match in ASSIGNED.finditer(line) for n in match.group(1).split(",")}
    names.discard("self")
    lines = code.splitlines()
    for first, second in SWAPS:
        i = next((i for i, line in enumerate(lines[:-1]) if line.startswith(first)), None)
        if i is not None and lines[i + 1].startswith(second):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
    out = []
    for line in lines:
        if line.strip() in given and not line.strip().startswith("return "):
            out.append(line)
            continue
        code_part, comment, _ = line.partition("  #")
        for name in sorted(names, key=len, reverse=True):
            code_part = re.sub(rf"(?<![\w.]){re.escape(name)}\b", f"my_{name}", code_part)
        out.append(code_part + ("  # note: see the lecture" if comment else ""))
    return "\n".join(out)
