"""Test-only PyTorch re-statement of the three original Wav2Lip networks.

Written independently from a description of the original architecture, so that
tests can produce checkpoints with the original state_dict layout (key names,
shapes, pickle formats) without the original code base.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

KINDS = ("generator", "expert", "discriminator")
# Extra scale of residual-branch conv weights in ``randomize`` (keeps sums bounded).
RESIDUAL_SCALE = 0.2


class ConvBN(nn.Module):
    """Conv2d + BatchNorm2d (+ optional identity skip) + ReLU.

    Args:
        cin: Input channels.
        cout: Output channels.
        kernel_size: Kernel size.
        stride: Stride (int or pair).
        padding: Zero padding.
        residual: Whether to add the input before the activation.
    """

    def __init__(self, cin, cout, kernel_size=3, stride=1, padding=1, residual=False):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x):
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class ConvLeaky(nn.Module):
    """Conv2d + LeakyReLU(0.01), no normalisation (the discriminator's block).

    Args:
        cin: Input channels.
        cout: Output channels.
        kernel_size: Kernel size.
        stride: Stride (int or pair).
        padding: Zero padding.
    """

    def __init__(self, cin, cout, kernel_size=3, stride=1, padding=1):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding))
        self.act = nn.LeakyReLU(0.01)

    def forward(self, x):
        return self.act(self.conv_block(x))


class ConvTransposeBN(nn.Module):
    """ConvTranspose2d + BatchNorm2d + ReLU.

    Args:
        cin: Input channels.
        cout: Output channels.
        kernel_size: Kernel size.
        stride: Stride.
        padding: Padding.
        output_padding: Extra size added to one side of the output.
    """

    def __init__(self, cin, cout, kernel_size=3, stride=1, padding=0, output_padding=0):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding),
            nn.BatchNorm2d(cout))
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv_block(x))


def _res(c, n):
    """Returns ``n`` residual 3x3 ConvBN blocks of width ``c``."""
    return [ConvBN(c, c, residual=True) for _ in range(n)]


def _scaler(width):
    """Channel count at ``width`` (every channel count scales by the same factor)."""
    return lambda channels: max(1, int(round(channels * width)))


def _audio_encoder(n_res_256, c):
    """Mel-spectrogram encoder (B,1,80,16) -> (B,c(512),1,1).

    Args:
        n_res_256: Residual blocks at width 256 (1 in the generator, 2 in the expert).
        c: Channel scaler from ``_scaler``.
    """
    return nn.Sequential(
        ConvBN(1, c(32)), *_res(c(32), 2),
        ConvBN(c(32), c(64), stride=(3, 1)), *_res(c(64), 2),
        ConvBN(c(64), c(128), stride=3), *_res(c(128), 2),
        ConvBN(c(128), c(256), stride=(3, 2)), *_res(c(256), n_res_256),
        ConvBN(c(256), c(512), padding=0),
        ConvBN(c(512), c(512), 1, padding=0))


def _fold(x, time_dim):
    """Folds a time axis time-major into the batch: cat([x[:, ..., t] for t], 0)."""
    return torch.cat([x.select(time_dim, t) for t in range(x.shape[time_dim])], dim=0)


def _unfold(x, batch):
    """Inverse of ``_fold`` for NCHW outputs: (T*B,C,H,W) -> (B,C,T,H,W)."""
    return torch.stack(torch.split(x, batch, dim=0), dim=2)


class Generator(nn.Module):
    """The Wav2Lip generator: (audio (B,1,80,16), face (B,6,96,96)) -> (B,3,96,96)."""

    def __init__(self, width=1.0):
        super().__init__()
        c = _scaler(width)
        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(ConvBN(6, c(16), 7, 1, 3)),
            nn.Sequential(ConvBN(c(16), c(32), stride=2), *_res(c(32), 2)),
            nn.Sequential(ConvBN(c(32), c(64), stride=2), *_res(c(64), 3)),
            nn.Sequential(ConvBN(c(64), c(128), stride=2), *_res(c(128), 2)),
            nn.Sequential(ConvBN(c(128), c(256), stride=2), *_res(c(256), 2)),
            nn.Sequential(ConvBN(c(256), c(512), stride=2), *_res(c(512), 1)),
            nn.Sequential(ConvBN(c(512), c(512), padding=0), ConvBN(c(512), c(512), 1, padding=0)),
        ])
        self.audio_encoder = _audio_encoder(1, c)
        # Decoder inputs are [previous decoder output, encoder skip] concatenated.
        self.face_decoder_blocks = nn.ModuleList([
            nn.Sequential(ConvBN(c(512), c(512), 1, padding=0)),
            nn.Sequential(ConvTransposeBN(c(512) * 2, c(512), 3, 1, 0), *_res(c(512), 1)),
            nn.Sequential(ConvTransposeBN(c(512) * 2, c(512), 3, 2, 1, 1), *_res(c(512), 2)),
            nn.Sequential(ConvTransposeBN(c(512) + c(256), c(384), 3, 2, 1, 1), *_res(c(384), 2)),
            nn.Sequential(ConvTransposeBN(c(384) + c(128), c(256), 3, 2, 1, 1), *_res(c(256), 2)),
            nn.Sequential(ConvTransposeBN(c(256) + c(64), c(128), 3, 2, 1, 1), *_res(c(128), 2)),
            nn.Sequential(ConvTransposeBN(c(128) + c(32), c(64), 3, 2, 1, 1), *_res(c(64), 2)),
        ])
        self.output_block = nn.Sequential(
            ConvBN(c(64) + c(16), c(32)), nn.Conv2d(c(32), 3, 1, 1, 0), nn.Sigmoid())

    def forward(self, audio, face):
        """Runs per-frame (4-D) or clip (audio (B,T,1,80,16), face (B,6,T,96,96)) inputs."""
        batch = audio.shape[0]
        clip = face.dim() == 5
        if clip:
            audio, face = _fold(audio, 1), _fold(face, 2)
        x = self.audio_encoder(audio)
        feats = []
        for block in self.face_encoder_blocks:
            face = block(face)
            feats.append(face)
        for block in self.face_decoder_blocks:
            x = torch.cat([block(x), feats.pop()], dim=1)
        out = self.output_block(x)
        return _unfold(out, batch) if clip else out


class Expert(nn.Module):
    """The SyncNet lip-sync expert: (audio (B,1,80,16), face (B,15,48,96)) -> embeddings."""

    def __init__(self, width=1.0):
        super().__init__()
        c = _scaler(width)
        self.face_encoder = nn.Sequential(
            ConvBN(15, c(32), 7, 1, 3),
            ConvBN(c(32), c(64), 5, (1, 2), 1), *_res(c(64), 2),
            ConvBN(c(64), c(128), stride=2), *_res(c(128), 3),
            ConvBN(c(128), c(256), stride=2), *_res(c(256), 2),
            ConvBN(c(256), c(512), stride=2), *_res(c(512), 2),
            ConvBN(c(512), c(512), stride=2),
            ConvBN(c(512), c(512), padding=0),
            ConvBN(c(512), c(512), 1, padding=0))
        self.audio_encoder = _audio_encoder(2, c)

    def forward(self, audio, face):
        """Returns L2-normalised (audio_emb, face_emb), each (B,512)."""
        a = self.audio_encoder(audio).flatten(1)
        f = self.face_encoder(face).flatten(1)
        return F.normalize(a, p=2, dim=1), F.normalize(f, p=2, dim=1)


class Discriminator(nn.Module):
    """The visual-quality discriminator: faces (N,3,96,96) -> probability real (N,1)."""

    def __init__(self, width=1.0):
        super().__init__()
        c = _scaler(width)
        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(ConvLeaky(3, c(32), 7, 1, 3)),
            nn.Sequential(ConvLeaky(c(32), c(64), 5, (1, 2), 2), ConvLeaky(c(64), c(64), 5, 1, 2)),
            nn.Sequential(ConvLeaky(c(64), c(128), 5, 2, 2), ConvLeaky(c(128), c(128), 5, 1, 2)),
            nn.Sequential(ConvLeaky(c(128), c(256), 5, 2, 2), ConvLeaky(c(256), c(256), 5, 1, 2)),
            nn.Sequential(ConvLeaky(c(256), c(512), 3, 2, 1), ConvLeaky(c(512), c(512), 3, 1, 1)),
            nn.Sequential(ConvLeaky(c(512), c(512), 3, 2, 1), ConvLeaky(c(512), c(512), 3, 1, 1)),
            nn.Sequential(ConvLeaky(c(512), c(512), 3, 1, 0), ConvLeaky(c(512), c(512), 1, 1, 0)),
        ])
        self.binary_pred = nn.Sequential(nn.Conv2d(c(512), 1, 1, 1, 0), nn.Sigmoid())

    def forward(self, face):
        """Scores the lower half of each face; a (B,3,T,96,96) clip is folded to (T*B,...)."""
        if face.dim() == 5:
            face = _fold(face, 2)
        x = face[:, :, face.shape[2] // 2:]
        for block in self.face_encoder_blocks:
            x = block(x)
        return self.binary_pred(x).view(x.shape[0], -1)


def build(kind, width=1.0):
    """Builds one network.

    Args:
        kind: "generator", "expert" or "discriminator".
        width: Channel multiplier (1.0 is the original).

    Returns:
        The freshly initialised module.
    """
    classes = {"generator": Generator, "expert": Expert, "discriminator": Discriminator}
    if kind not in classes:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    return classes[kind](width)


def randomize(model, seed=0):
    """Deterministically re-initialises every conv and BatchNorm tensor.

    Conv weights are He-scaled (by fan-in, or fan-in per output pixel for
    transposed convs), and the convs of residual blocks are further scaled by
    ``RESIDUAL_SCALE``, so activations stay O(1) through the deep nets and the
    generator's sigmoid output is not saturated.

    Args:
        model: A module from ``build``.
        seed: Seed of the torch.Generator used.

    Returns:
        ``model``, in eval() mode.
    """
    gen = torch.Generator().manual_seed(seed)

    def normal(t, std):
        t.copy_(torch.randn(t.shape, generator=gen) * std)

    def uniform(t, lo, hi):
        t.copy_(lo + (hi - lo) * torch.rand(t.shape, generator=gen))

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.ConvTranspose2d):
                kh, kw = m.kernel_size
                sh, sw = m.stride
                fan_in = m.in_channels * kh * kw / (sh * sw)
                normal(m.weight, math.sqrt(2.0 / fan_in))
                normal(m.bias, 0.05)
            elif isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                normal(m.weight, math.sqrt(2.0 / fan_in))
                normal(m.bias, 0.05)
            elif isinstance(m, nn.BatchNorm2d):
                uniform(m.weight, 0.5, 1.5)
                normal(m.bias, 0.1)
                normal(m.running_mean, 0.1)
                uniform(m.running_var, 0.5, 2.0)
                m.num_batches_tracked.fill_(int(torch.randint(1, 100000, (1,), generator=gen)))
        for m in model.modules():
            if isinstance(m, ConvBN) and m.residual:
                m.conv_block[0].weight.mul_(RESIDUAL_SCALE)
    return model.eval()


def _dummy_step(model):
    """Returns an Adam state_dict after one step on a cheap dummy loss."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params)
    loss = sum((p.float() ** 2).mean() for p in params)
    opt.zero_grad()
    loss.backward()
    opt.step()
    for p in params:
        p.grad = None
    return opt.state_dict()


def save_checkpoint(model, path, legacy=False, prefix=""):
    """Writes a checkpoint laid out like the original training scripts' files.

    The optimizer step changes the model's parameters; the saved state_dict is
    taken before it, so it matches the model as passed in.

    Args:
        model: The module to save.
        path: Destination file.
        legacy: Use the pre-1.6 (non-zip) pickle format.
        prefix: Prefix for every state_dict key, e.g. "module." (DataParallel).

    Returns:
        The saved dict.
    """
    state = {prefix + k: v.detach().clone() for k, v in model.state_dict().items()}
    backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer = _dummy_step(model)
    model.load_state_dict(backup)
    ckpt = {"state_dict": state, "optimizer": optimizer, "global_step": 1234, "global_epoch": 5}
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)
    return ckpt


def param_count(model):
    """Returns the number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
