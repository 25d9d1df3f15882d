"""Held-out model designs for 1_autoencoder.ipynb, judged as at grading (probes in this process, no
training): every design the tutorial's "be creative" invites keeps its points on every test cell it
touches, and every wrong one loses exactly the points of the test that should catch it, with a
message in the exercise's words that names the mistake (never a raw torch or Python error)."""
import re
import textwrap

import pytest

from notebooks import SOURCE, Probing, cell, judge_in_process, read

NAME = "1_autoencoder"

# The test cells that judge each answer cell's models (the selfchecks build on the student's own Encoder;
# classifier_hidden and autoencoder_hidden on the grader's, so a wrong Encoder must not cost them).
CELLS = {
    "encoder_solution": ["encoder_selfcheck", "encoder_hidden", "classifier_selfcheck", "autoencoder_selfcheck",
                         "classifier_hidden", "autoencoder_hidden"],
    "classifier_solution": ["classifier_selfcheck", "classifier_hidden"],
    "autoencoder_solution": ["autoencoder_selfcheck", "autoencoder_hidden"],
    "hparams_solution": ["encoder_selfcheck", "encoder_hidden", "classifier_selfcheck", "classifier_hidden"],
    "ae_hparams_solution": ["autoencoder_selfcheck", "autoencoder_hidden"],
}
ON_THE_ENCODER = CELLS["encoder_solution"][:4]          # the cells a wrong Encoder must fail
RAW = re.compile(r"\b[A-Z]\w*(Error|Exception)\b|Traceback|mat1 and mat2|torch\.\w+\.|File \"")


def encoder(init: str, forward: str, head: str = "super().__init__()") -> str:
    """An Encoder cell with the notebook's signature and attributes, `init` and `forward` filled in."""
    return textwrap.dedent("""
        class Encoder(nn.Module):
            def __init__(self, hparams, input_size=28 * 28, latent_dim=20):
                {head}
                self.hparams, self.input_size, self.latent_dim = hparams, input_size, latent_dim
                side = int(round(math.sqrt(input_size)))
                self.side = side
        {init}

            def forward(self, x):
        {forward}
        """).format(head=head, init=textwrap.indent(textwrap.dedent(init).strip(), " " * 8),
                    forward=textwrap.indent(textwrap.dedent(forward).strip(), " " * 8))


def images(x="x"):
    return f"{x}.reshape(len({x}), 1, self.side, self.side)"


MLP = "self.net = nn.Sequential(nn.Linear(input_size, 128), nn.ReLU(), nn.Linear(128, latent_dim))"
CONV_FLAT = "16 * ((side + 1) // 2) ** 2"

# name: (answer cell, its new code or [(old, new), ...] edits of the solution, {test id: words of the
# message that test must fail with}; every other test cell of CELLS[answer cell] keeps its points)
RIGHT = {
    # -- encoders
    "ModuleList and a for loop": ("encoder_solution", encoder(
        "self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip([input_size, 256, 64], [256, 64, latent_dim])])",
        """
        x = x.reshape(len(x), -1)
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x"""), {}),
    "x.view(-1, input_size)": ("encoder_solution", encoder(MLP, "return self.net(x.view(-1, self.input_size))"), {}),
    "torch.flatten": ("encoder_solution", encoder(MLP, "return self.net(torch.flatten(x, 1))"), {}),
    "nn.Flatten in the Sequential": ("encoder_solution", encoder(
        "self.net = nn.Sequential(nn.Flatten(), nn.Linear(input_size, 128), nn.ReLU(), nn.Linear(128, latent_dim))",
        "return self.net(x)"), {}),
    "Python ifs on the input's shape and range": ("encoder_solution", encoder(MLP, """
        if x.dim() == 4:
            x = x.flatten(1)
        if x.max() > 1:
            x = x / 255
        return self.net(x)"""), {}),
    "functional activations": ("encoder_solution", encoder(
        "self.a, self.b, self.c, self.d = nn.Linear(input_size, 128), nn.Linear(128, 64), nn.Linear(64, 32), "
        "nn.Linear(32, latent_dim)",
        "x = F.leaky_relu(self.a(x.flatten(1)), 0.1)\nx = F.elu(self.b(x))\nx = torch.tanh(self.c(x))\n"
        "return F.silu(self.d(x))"), {}),
    "GELU, PReLU, SELU, Softplus": ("encoder_solution", encoder(
        "self.net = nn.Sequential(nn.Linear(input_size, 128), nn.GELU(), nn.Linear(128, 64), nn.PReLU(), "
        "nn.Linear(64, 32), nn.SELU(), nn.Linear(32, latent_dim), nn.Softplus())",
        "return self.net(x.reshape(len(x), -1))"), {}),
    "LayerNorm and AlphaDropout": ("encoder_solution", encoder(
        "self.net = nn.Sequential(nn.Linear(input_size, 128), nn.LayerNorm(128), nn.SELU(), nn.AlphaDropout(0.1), "
        "nn.Linear(128, latent_dim))",
        "return self.net(x.reshape(len(x), -1))"), {}),
    "conv, GroupNorm, Dropout2d, MaxPool2d": ("encoder_solution", encoder(
        f"""
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.ReLU(), nn.Dropout2d(0.1),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True))
        self.fc = nn.Linear({CONV_FLAT}, latent_dim)""",
        f"return self.fc(self.features({images()}).flatten(1))"), {}),
    "conv with AvgPool2d and AdaptiveAvgPool2d": ("encoder_solution", encoder(
        """
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.AvgPool2d(2), nn.Conv2d(8, 32, 3, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(32, latent_dim)""",
        f"return self.fc(self.features({images()}))"), {}),
    "torch.cat of two paths": ("encoder_solution", encoder(
        "self.wide, self.narrow = nn.Linear(input_size, 64), nn.Linear(input_size, 16)\n"
        "self.out = nn.Linear(80, latent_dim)",
        "x = x.reshape(x.size(0), -1)\n"
        "return self.out(torch.cat([F.relu(self.wide(x)), torch.sigmoid(self.narrow(x))], dim=1))"),
        {}),
    "super(Encoder, self).__init__()": ("encoder_solution", encoder(MLP, "return self.net(x.reshape(len(x), -1))",
                                                                    head="super(Encoder, self).__init__()"), {}),
    "hidden sizes from extra hparams keys": ("encoder_solution", encoder(
        """
        sizes = [input_size] + list(hparams.get("hidden", [256, 64]))
        layers = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.LeakyReLU(), nn.Dropout(hparams.get("dropout", 0.5))]
        self.encoder = nn.Sequential(*layers, nn.Linear(sizes[-1], latent_dim))""",
        "return self.encoder(x.reshape(x.shape[0], -1))"), {}),
    "functional pooling and F.dropout(training=self.training)": ("encoder_solution", encoder(
        f"self.conv = nn.Conv2d(1, 16, 3, padding=1)\nself.fc = nn.Linear({CONV_FLAT}, latent_dim)",
        f"""
        h = F.max_pool2d(F.relu(self.conv({images()})), 2, ceil_mode=True)
        h = F.dropout(h.flatten(1), 0.3, training=self.training)
        return self.fc(h)"""), {}),
    "hparams with extra keys": ("hparams_solution", [(
        '"dropout": 0.2,',
        '"dropout": 0.2,\n    "hidden": [256, 64],\n    "activation": "relu",\n    "seed": 0,')], {}),
    # -- classifiers
    "a two-layer head": ("classifier_solution", [(
        "self.model = nn.Linear(encoder.latent_dim, 10)",
        "self.model = nn.Sequential(nn.Linear(encoder.latent_dim, 64), nn.ReLU(), nn.Dropout(0.1), "
        "nn.Linear(64, 10))")],
        {}),
    "log_softmax with nll_loss": ("classifier_solution", [
        ("return self.model(self.encoder(x))", "return F.log_softmax(self.model(self.encoder(x)), dim=1)"),
        ("loss = F.cross_entropy(logits, labels)", "loss = F.nll_loss(logits, labels)")], {}),
    "nn.CrossEntropyLoss and Adam": ("classifier_solution", [
        ("self.model = nn.Linear(encoder.latent_dim, 10)",
         "self.model = nn.Linear(encoder.latent_dim, 10)\n        self.criterion = nn.CrossEntropyLoss()"),
        ("loss = F.cross_entropy(logits, labels)", "loss = self.criterion(logits, labels)"),
        ("""        optimizer = torch.optim.SGD(self.parameters(), lr=self.hparams["learning_rate"],
                                    momentum=self.hparams["momentum"], nesterov=True,
                                    weight_decay=self.hparams.get("weight_decay", 0.0))
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.trainer.estimated_stepping_batches)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}""",
         """        return [torch.optim.Adam(self.parameters(), lr=self.hparams["learning_rate"])]""")], {}),
    # -- decoders and autoencoders
    "conv decoder: Unflatten and ConvTranspose2d": ("autoencoder_solution", [(
        """        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Dropout(p),
            nn.Linear(100, 500), nn.BatchNorm1d(500), nn.ReLU(), nn.Dropout(p),
            nn.Linear(500, output_size), nn.Sigmoid(),
        )""",
        """        half = int(round(math.sqrt(output_size))) // 2
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 16 * half * half), nn.ReLU(), nn.Unflatten(1, (16, half, half)),
            nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.ConvTranspose2d(8, 1, 3, padding=1), nn.Sigmoid(), nn.Flatten(),
        )""")], {}),
    "decoder with nn.Upsample and F.interpolate": ("autoencoder_solution", [(
        """        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Dropout(p),
            nn.Linear(100, 500), nn.BatchNorm1d(500), nn.ReLU(), nn.Dropout(p),
            nn.Linear(500, output_size), nn.Sigmoid(),
        )""",
        """        self.half = int(round(math.sqrt(output_size))) // 2
        self.fc = nn.Linear(latent_dim, 8 * self.half ** 2)
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.out = nn.Conv2d(8, 1, 3, padding=1)"""), (
        "        return self.decoder(z)",
        """        h = self.up(F.relu(self.fc(z)).view(-1, 8, self.half, self.half))
        h = F.interpolate(h, scale_factor=1.0, mode="bilinear", align_corners=False)
        return torch.sigmoid(self.out(h)).flatten(1)""")], {}),
    "decoder ending torch.sigmoid(...)": ("autoencoder_solution", [
        ("nn.Linear(500, output_size), nn.Sigmoid(),", "nn.Linear(500, output_size),"),
        ("        return self.decoder(z)", "        return torch.sigmoid(self.decoder(z))")], {}),
    "decoder ending (tanh + 1) / 2": ("autoencoder_solution", [
        ("nn.Linear(500, output_size), nn.Sigmoid(),", "nn.Linear(500, output_size), nn.Tanh(),"),
        ("        return self.decoder(z)", "        return (self.decoder(z) + 1) / 2")], {}),
    "decoder ending clamp(0, 1)": ("autoencoder_solution", [
        ("nn.Linear(500, output_size), nn.Sigmoid(),", "nn.Linear(500, output_size),"),
        ("        return self.decoder(z)", "        return self.decoder(z).clamp(0, 1)")], {}),
    "decoder with a skip connection": ("autoencoder_solution", [(
        """        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Dropout(p),
            nn.Linear(100, 500), nn.BatchNorm1d(500), nn.ReLU(), nn.Dropout(p),
            nn.Linear(500, output_size), nn.Sigmoid(),
        )""",
        """        self.inp, self.block = nn.Linear(latent_dim, 256), nn.Sequential(nn.Linear(256, 256), nn.ReLU())
        self.out = nn.Linear(256, output_size)"""), (
        "        return self.decoder(z)",
        "        h = F.relu(self.inp(z))\n        return torch.sigmoid(self.out(h + self.block(h)))")], {}),
    "autoencoder flattening in forward, MSE by hand": ("autoencoder_solution", [
        ("return self.decoder(self.encoder(x))", "return self.decoder(self.encoder(x)).view(x.size(0), -1)"),
        ("loss = F.mse_loss(self(batch), batch.reshape(len(batch), -1))",
         "loss = ((self(batch) - batch.flatten(1)) ** 2).mean()")], {}),
    "ae_hparams with extra keys": ("ae_hparams_solution", [(
        '"dropout": 0.0,', '"dropout": 0.0,\n    "weight_decay": 0.0,\n    "latent_dim": 20,')], {}),
    "autoencoder with nn.MSELoss and extra hparams": ("autoencoder_solution", [
        ("        self.decoder = decoder\n", "        self.decoder = decoder\n        self.criterion = nn.MSELoss()\n"),
        ("loss = F.mse_loss(self(batch), batch.reshape(len(batch), -1))",
         "loss = self.criterion(self.forward(batch), batch.view(batch.shape[0], -1))"),
        ('lr=self.hparams["learning_rate"]', 'lr=self.hparams.get("lr", self.hparams["learning_rate"]), '
                                             'weight_decay=self.hparams.get("weight_decay", 0.0)')], {}),
}

WRONG = {
    # -- encoders
    "a conv encoder ignoring latent_dim": ("encoder_solution", encoder(
        f"self.conv = nn.Conv2d(1, 16, 3, stride=2, padding=1)\nself.fc = nn.Linear({CONV_FLAT}, 20)",
        f"return self.fc(F.relu(self.conv({images()})).flatten(1))"),
        {"encoder_hidden": "use the latent_dim argument"}),
    "a conv encoder fed flat images": ("encoder_solution", encoder(
        f"self.conv = nn.Conv2d(1, 16, 3, stride=2, padding=1)\nself.fc = nn.Linear({CONV_FLAT}, latent_dim)",
        "return self.fc(F.relu(self.conv(x)).flatten(1))"),
        {"encoder_hidden": "Encoder.forward"}),
    "the image size read from x.shape[2]": ("encoder_solution", encoder(
        MLP, "return self.net(x.reshape(len(x), x.shape[1] * x.shape[2] * x.shape[3]))"),
        {"encoder_hidden": "Encoder.forward"}),
    "forward returning a tuple": ("encoder_solution", encoder(MLP, "z = self.net(x.flatten(1))\nreturn z, x"),
                                  {c: "one tensor" for c in ON_THE_ENCODER}),
    "layers kept in a Python list": ("encoder_solution", encoder(
        "self.layers = [nn.Linear(input_size, 128), nn.Linear(128, latent_dim)]",
        "x = x.flatten(1)\nfor layer in self.layers:\n    x = layer(x)\nreturn x"),
        {c: "Python list" for c in ON_THE_ENCODER}),
    "numpy in forward": ("encoder_solution", encoder(
        MLP, "x = torch.from_numpy(x.reshape(len(x), -1).numpy() * 2.0 - 1.0)\nreturn self.net(x)"),
        {c: "numpy" for c in ON_THE_ENCODER}),
    "batch statistics in eval mode": ("encoder_solution", encoder(
        MLP, "x = x.reshape(len(x), -1)\nreturn self.net((x - x.mean(dim=0)) / (x.std(dim=0) + 1e-3))"),
        {c: "batch" for c in ON_THE_ENCODER}),
    "a global counter in forward": ("encoder_solution", "CALLS = [0]\n" + encoder(
        MLP, "CALLS[0] += 1\nreturn self.net(x.reshape(len(x), -1)) + CALLS[0]"),
        {c: "a counter" for c in ON_THE_ENCODER}),
    ".item() in forward": ("encoder_solution", encoder(
        MLP, "x = x.reshape(len(x), -1)\nreturn self.net((x - x.mean().item()) / x.std().item())"),
        {c: ".item()" for c in ON_THE_ENCODER}),
    ".detach() in forward": ("encoder_solution", encoder(MLP, "return self.net(x.reshape(len(x), -1)).detach()"),
                             {"classifier_selfcheck": ".detach()", "autoencoder_selfcheck": ".detach()"}),
    "F.dropout active in eval mode": ("encoder_solution", encoder(
        MLP, "return self.net(F.dropout(x.reshape(len(x), -1), 0.2))"),
        {c: "random" for c in ON_THE_ENCODER}),
    "more than 5,000,000 parameters": ("encoder_solution", encoder(
        "self.net = nn.Sequential(nn.Linear(input_size, 6400), nn.ReLU(), nn.Linear(6400, latent_dim))",
        "return self.net(x.reshape(len(x), -1))"),
        {c: "more than the limit 5,000,000" for c in ON_THE_ENCODER}),
    "TypeError: a float layer size": ("encoder_solution", encoder(
        "self.net = nn.Sequential(nn.Linear(input_size, input_size / 4), nn.ReLU(), "
        "nn.Linear(input_size / 4, latent_dim))",
        "return self.net(x.reshape(len(x), -1))"),
        {c: "Encoder.__init__" for c in ON_THE_ENCODER}),
    "AttributeError: a misspelt layer": ("encoder_solution", encoder(MLP, "return self.nett(x.reshape(len(x), -1))"),
                                         {c: "uses .nett, which the Encoder object does not have"
                                          for c in ON_THE_ENCODER}),
    "ValueError: a dropout probability of 1.5": ("encoder_solution", encoder(
        "self.net = nn.Sequential(nn.Linear(input_size, 128), nn.Dropout(1.5), nn.Linear(128, latent_dim))",
        "return self.net(x.reshape(len(x), -1))"),
        {c: "Encoder.__init__" for c in ON_THE_ENCODER}),
    "ZeroDivisionError: a hidden size from latent_dim": ("encoder_solution", encoder(
        "hidden = 2000 // (latent_dim // 10 - 2)\nself.net = nn.Sequential(nn.Linear(input_size, hidden), nn.ReLU(), "
        "nn.Linear(hidden, latent_dim))",
        "return self.net(x.reshape(len(x), -1))"),
        {c: "division by zero" for c in ON_THE_ENCODER}),
    "AssertionError: assert input_size == 784": ("encoder_solution", encoder(
        "assert input_size == 784, 'MNIST images only'\n" + MLP, "return self.net(x.reshape(len(x), -1))"),
        {"encoder_hidden": "assert"}),
    # -- classifiers
    "a head sized by a constant 20": ("classifier_solution", [
        ("nn.Linear(encoder.latent_dim, 10)", "nn.Linear(20, 10)")],
        {"classifier_hidden": "the head takes 20 inputs, the encoder gives 7 codes"}),
    "a head kept in a Python list": ("classifier_solution", [
        ("self.model = nn.Linear(encoder.latent_dim, 10)", "self.heads = [nn.Linear(encoder.latent_dim, 10)]"),
        ("return self.model(self.encoder(x))", "return self.heads[0](self.encoder(x))")],
        {c: "Python list" for c in CELLS["classifier_solution"]}),
    "forward returning (logits, codes)": ("classifier_solution", [
        ("return self.model(self.encoder(x))", "codes = self.encoder(x)\n        return self.model(codes), codes"),
        ("logits = self(images)\n        loss", "logits, _ = self(images)\n        loss")],
        {c: "one tensor" for c in CELLS["classifier_solution"]}),
    "an MSE loss on the logits": ("classifier_solution", [
        ("loss = F.cross_entropy(logits, labels)",
         "loss = F.mse_loss(logits.softmax(1), F.one_hot(labels, 10).float())")],
        {"classifier_hidden": "return the cross-entropy"}),
    # -- decoders and autoencoders
    "a conv decoder with a fixed 28 x 28 output": ("autoencoder_solution", [(
        """        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Dropout(p),
            nn.Linear(100, 500), nn.BatchNorm1d(500), nn.ReLU(), nn.Dropout(p),
            nn.Linear(500, output_size), nn.Sigmoid(),
        )""",
        """        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 16 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (16, 7, 7)),
            nn.ConvTranspose2d(16, 1, 4, stride=4), nn.Sigmoid(), nn.Flatten(),
        )""")], {"autoencoder_hidden": "use the arguments"}),
    "a decoder returning (N, 1, 28, 28)": ("autoencoder_solution", [
        ("        return self.decoder(z)", "        return self.decoder(z).view(-1, 1, 28, 28)")],
        {"autoencoder_selfcheck": "as (N, 784)", "autoencoder_hidden": "to (32, 784)"}),
    "a decoder in [-1, 1] (Tanh)": ("autoencoder_solution", [
        ("nn.Linear(500, output_size), nn.Sigmoid(),", "nn.Linear(500, output_size), nn.Tanh(),")],
        {"autoencoder_hidden": "[0, 1]"}),
    "the decoder bypassing the code": ("autoencoder_solution", [
        ("return self.decoder(self.encoder(x))", "return 0.5 * self.decoder(self.encoder(x)) + 0.5 * x.flatten(1)")],
        {"autoencoder_hidden": "pass through the code"}),
    "reconstructions shaped (N, 1, 28, 28)": ("autoencoder_solution", [
        ("return self.decoder(self.encoder(x))", "return self.decoder(self.encoder(x)).view(-1, 1, 28, 28)"),
        ("loss = F.mse_loss(self(batch), batch.reshape(len(batch), -1))", "loss = F.mse_loss(self(batch), batch)")],
        {"autoencoder_selfcheck": "as (N, 784)", "autoencoder_hidden": "as (N, 784)"}),
    "images, labels = batch in training_step": ("autoencoder_solution", [
        ("loss = F.mse_loss(self(batch), batch.reshape(len(batch), -1))",
         "images, _ = batch\n        loss = F.mse_loss(self(images), images.reshape(len(images), -1))")],
        {c: "no labels" for c in CELLS["autoencoder_solution"]}),
}


@pytest.fixture(scope="module")
def source():
    return read(SOURCE / "1_autoencoder.ipynb")


def _code(source, answer: str, change) -> str:
    if isinstance(change, str):
        return change
    code = cell(source, answer).source
    for old, new in change:
        assert code.count(old) == 1, f"{answer}: expected {old!r} once"
        code = code.replace(old, new)
    return code


def _verdicts(source, design: tuple, tmp_path, monkeypatch) -> dict:
    answer, change, _ = design
    return judge_in_process(source, CELLS[answer], Probing(NAME, tmp_path), monkeypatch,
                            {answer: _code(source, answer, change)})


@pytest.mark.parametrize("name", RIGHT)
def test_a_right_design_keeps_every_point(source, name, tmp_path, monkeypatch):
    verdicts = _verdicts(source, RIGHT[name], tmp_path, monkeypatch)
    lost = {test: v.message for test, v in verdicts.items() if v.points != cell(source, test).metadata.nbgrader.points}
    assert not lost, lost


@pytest.mark.parametrize("name", WRONG)
def test_a_wrong_design_loses_exactly_its_tests_points_in_words(source, name, tmp_path, monkeypatch):
    fails = WRONG[name][2]
    verdicts = _verdicts(source, WRONG[name], tmp_path, monkeypatch)
    for test, verdict in verdicts.items():
        if test in fails:
            assert verdict.points == 0 and fails[test] in verdict.message, (test, verdict.message)
            assert not RAW.search(verdict.message), (test, verdict.message)
        else:
            assert verdict.points == cell(source, test).metadata.nbgrader.points, (test, verdict.message)


# Transfer learning in the forms students write it, with trained models (the autoencoder one epoch,
# the transfer classifier the solution's 50), judged as at grading: {design: (answer cell edits,
# transfer code, words the transfer test must fail with, or None for full points)}.
TRANSFER = """
transfer_classifier = Classifier(hparams, copy.deepcopy(autoencoder.encoder))
make_trainer(hparams["epochs"], enable_progress_bar=False).fit(
    transfer_classifier, datamodule=MnistDataModule(splits, hparams["batch_size"]))
"""
TRANSFERS = {
    "the solution": ({}, TRANSFER, None),
    "the pretrained weights loaded into a new Encoder": ({}, TRANSFER.replace(
        "transfer_classifier = Classifier(hparams, copy.deepcopy(autoencoder.encoder))",
        "encoder = Encoder(hparams)\nencoder.load_state_dict(autoencoder.encoder.state_dict())\n"
        "transfer_classifier = Classifier(hparams, encoder)"), None),
    "the encoder inside the head's nn.Sequential": ({"classifier_solution": [
        ("self.model = nn.Linear(encoder.latent_dim, 10)",
         "self.model = nn.Sequential(encoder, nn.Linear(encoder.latent_dim, 10))"),
        ("return self.model(self.encoder(x))", "return self.model(x)")]}, TRANSFER, None),
    "fine-tuning the autoencoder's own encoder": ({}, TRANSFER.replace("copy.deepcopy(autoencoder.encoder)",
                                                                       "autoencoder.encoder"), "deep copy"),
}


@pytest.fixture(scope="module")
def pretrained(source, tmp_path_factory):
    """An autoencoder of the solution's classes trained for one epoch (a fresh copy per test)."""
    namespace = {}
    setup = next(c for c in source.cells if "load_splits()" in c.source)
    for answer in [setup] + [cell(source, a) for a in ("hparams_solution", "encoder_solution", "autoencoder_solution",
                                                       "ae_hparams_solution")]:
        exec("\n".join(line for line in answer.source.splitlines() if not line.startswith("%")), namespace)
    exec("seed_everything(0)\nautoencoder = Autoencoder(ae_hparams, Encoder(ae_hparams), Decoder(ae_hparams))\n"
         "make_trainer(1, enable_progress_bar=False).fit(autoencoder, datamodule=MnistDataModule(splits, 512, "
         "labelled=False))", namespace)
    return namespace["autoencoder"].state_dict()


@pytest.mark.parametrize("name", TRANSFERS)
def test_transfer_learning_in_any_form_keeps_its_points_and_a_changed_autoencoder_is_named(
        source, pretrained, name, tmp_path, monkeypatch):
    edits, transfer, fails = TRANSFERS[name]
    replacements = {answer: _code(source, answer, change) for answer, change in edits.items()}
    before = ("seed_everything(0)\nautoencoder = Autoencoder(ae_hparams, Encoder(ae_hparams), Decoder(ae_hparams))\n"
              "autoencoder.load_state_dict(PRETRAINED)\n")
    tests = ["classifier_selfcheck", "classifier_hidden", "reconstruction_hidden", "transfer_hidden"]
    transfer = "pretrained_state = checks.snapshot(autoencoder.encoder)\nseed_everything(0)\n" + transfer
    verdicts = judge_in_process(source, tests, Probing(NAME, tmp_path), monkeypatch, replacements,
                                between={"classifier_selfcheck": before, "transfer_hidden": transfer},
                                namespace={"PRETRAINED": pretrained})
    transfer_verdict = verdicts["transfer_hidden"]
    assert verdicts["reconstruction_hidden"].points == 2, verdicts["reconstruction_hidden"].message
    if fails is None:
        assert transfer_verdict.points == 4, transfer_verdict.message
    else:
        assert transfer_verdict.points == 0 and fails in transfer_verdict.message, transfer_verdict.message
        assert not RAW.search(transfer_verdict.message), transfer_verdict.message
