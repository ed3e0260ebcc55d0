"""PyTorch reference CapsNet (Sabour et al. 2017) with labml's module/parameter names.

See docs/ARCHITECTURE.md. `state_dict()` keys:
conv1.weight/bias, conv2.weight/bias, digit_capsules.weight [I, J, D, M],
decoder.{0,2,4}.weight/bias.
"""

from dataclasses import dataclass, asdict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
IMAGE_SIZE = 28
SQUASH_EPS = 1e-8


@dataclass(frozen=True)
class CapsConfig:
    conv1_channels: int = 256
    primary_types: int = 32
    primary_dim: int = 8
    out_caps: int = 10
    out_dim: int = 16
    iterations: int = 3
    conv1_kernel: int = 9
    conv2_kernel: int = 9
    conv2_stride: int = 2
    # Widths of the decoder's Linear layers (the last is input_size**2); () for no decoder.
    decoder: tuple = (512, 1024, IMAGE_SIZE * IMAGE_SIZE)
    input_size: int = IMAGE_SIZE

    @property
    def conv1_size(self):
        return self.input_size - self.conv1_kernel + 1

    @property
    def grid(self):
        return (self.conv1_size - self.conv2_kernel) // self.conv2_stride + 1

    @property
    def in_caps(self):
        return self.primary_types * self.grid * self.grid

    def as_dict(self):
        return asdict(self)


CONFIGS = {
    "standard": CapsConfig(conv1_channels=256, primary_types=32, primary_dim=8, out_caps=10, out_dim=16),
    "small": CapsConfig(conv1_channels=64, primary_types=16, primary_dim=8, out_caps=10, out_dim=16),
}


def squash(s, dim=-1):
    s2 = (s * s).sum(dim=dim, keepdim=True)
    return (s2 / (1.0 + s2)) * (s / torch.sqrt(s2 + SQUASH_EPS))


class DigitCapsules(nn.Module):
    """Prediction vectors plus dynamic routing; `weight` is W[i, j, n, m]."""

    def __init__(self, in_caps, out_caps, in_dim, out_dim, iterations):
        super().__init__()
        self.iterations = iterations
        # labml initialises with a plain standard normal.
        self.weight = nn.Parameter(torch.randn(in_caps, out_caps, in_dim, out_dim))

    def predictions(self, u):
        # u: [N, I, D]  ->  u_hat: [N, I, J, M]
        return torch.einsum("bin,ijnm->bijm", u, self.weight)

    def route(self, u_hat, record=None):
        n, i_caps, j_caps, _ = u_hat.shape
        logits = u_hat.new_zeros(n, i_caps, j_caps)
        v = None
        for _ in range(self.iterations):
            c = torch.softmax(logits, dim=1)  # over input capsules
            if record is not None:
                record.append(c)
            s = torch.einsum("bij,bijm->bjm", c, u_hat)
            v = squash(s)
            logits = logits + torch.einsum("bjm,bijm->bij", v, u_hat)
        return v

    def forward(self, u):
        return self.route(self.predictions(u))


class CapsNet(nn.Module):
    def __init__(self, config: CapsConfig = CONFIGS["standard"]):
        super().__init__()
        self.config = config
        c = config
        self.conv1 = nn.Conv2d(1, c.conv1_channels, kernel_size=c.conv1_kernel, stride=1)
        self.conv2 = nn.Conv2d(c.conv1_channels, c.primary_types * c.primary_dim,
                               kernel_size=c.conv2_kernel, stride=c.conv2_stride)
        self.digit_capsules = DigitCapsules(c.in_caps, c.out_caps, c.primary_dim, c.out_dim, c.iterations)
        layers = []
        width = c.out_caps * c.out_dim
        for k, out in enumerate(c.decoder):
            layers += [nn.Linear(width, out), nn.Sigmoid() if k == len(c.decoder) - 1 else nn.ReLU()]
            width = out
        self.decoder = nn.Sequential(*layers) if layers else None

    def primary(self, x2):
        n = x2.shape[0]
        c = self.config
        # channel = d * types + t (component is the slow part); capsule i = t*grid^2 + h*grid + w
        return x2.reshape(n, c.primary_dim, c.in_caps).permute(0, 2, 1)

    def decode(self, v, pred):
        if self.decoder is None:
            return None
        mask = F.one_hot(pred, num_classes=self.config.out_caps).to(v.dtype)
        flat = (v * mask[:, :, None]).reshape(v.shape[0], -1)
        side = self.config.input_size
        return self.decoder(flat).reshape(-1, side, side)

    def forward(self, x):
        """x: normalised [N,1,28,28]. Returns (v [N,J,M], reconstruction [N,28,28], pred [N])."""
        x1 = F.relu(self.conv1(x))
        x2 = self.conv2(x1)
        u = squash(self.primary(x2))
        v = self.digit_capsules(u)
        with torch.no_grad():
            pred = (v * v).sum(-1).argmax(-1)
        return v, self.decode(v, pred), pred

    @torch.no_grad()
    def stages(self, x):
        """Every intermediate stage for normalised input x [N,1,28,28]."""
        out = {"input": x}
        x1 = F.relu(self.conv1(x))
        out["conv1"] = x1
        x2 = self.conv2(x1)
        out["conv2"] = x2
        u = squash(self.primary(x2))
        out["primary"] = u
        u_hat = self.digit_capsules.predictions(u)
        out["u_hat"] = u_hat
        couplings = []
        v = self.digit_capsules.route(u_hat, record=couplings)
        out["coupling"] = torch.stack(couplings, dim=0)  # [R, N, I, J]
        out["digit_caps"] = v
        lengths = torch.sqrt((v * v).sum(-1))
        out["lengths"] = lengths
        pred = (v * v).sum(-1).argmax(-1)
        out["prediction"] = pred
        if self.decoder is not None:
            out["reconstruction"] = self.decode(v, pred)
        return out


def preprocess(pixels_uint8):
    """uint8 [N,28,28] (numpy or tensor) -> normalised float32 tensor [N,1,28,28]."""
    t = torch.as_tensor(np.asarray(pixels_uint8), dtype=torch.float32)
    t = t.reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)
    return (t / 255.0 - MNIST_MEAN) / MNIST_STD


def margin_loss(v, labels, m_pos=0.9, m_neg=0.1, lam=0.5):
    """labml's margin loss: relu (not squared) margins, summed over classes, mean over the batch."""
    length = torch.sqrt((v * v).sum(-1))
    t = F.one_hot(labels, num_classes=v.shape[1]).to(v.dtype)
    loss = t * F.relu(m_pos - length) + lam * (1.0 - t) * F.relu(length - m_neg)
    return loss.sum(-1).mean()


def normalise_keys(sd):
    """Strip `module.` prefixes and map the older `reconstruct.` decoder name to `decoder.`."""
    out = {}
    for k, v in sd.items():
        if k.startswith("module."):
            k = k[len("module."):]
        if k.startswith("reconstruct."):
            k = "decoder." + k[len("reconstruct."):]
        out[k] = v
    return out


def infer_config(shapes, iterations=3):
    """Infer a CapsConfig from a {key: shape} mapping and check that the shapes agree.

    Nothing is fixed but the architecture: conv1/primary widths and kernels, capsule counts and
    dimensions, and the decoder (any number of Linear layers `decoder.0, .2, .4, ...`, or none) all
    come from the shapes, as in CapsKit's reader.
    """
    def shape(key):
        if key not in shapes:
            raise ValueError(f"missing tensor {key!r}")
        return tuple(int(s) for s in shapes[key])

    c1w = shape("conv1.weight")
    c2w = shape("conv2.weight")
    w = shape("digit_capsules.weight")
    if len(c1w) != 4 or c1w[1] != 1 or c1w[2] != c1w[3]:
        raise ValueError(f"conv1.weight has shape {list(c1w)}, expected [C1,1,k,k]")
    if len(c2w) != 4 or c2w[2] != c2w[3]:
        raise ValueError(f"conv2.weight has shape {list(c2w)}, expected [C2,C1,k,k]")
    if len(w) != 4:
        raise ValueError(f"digit_capsules.weight has shape {list(w)}, expected [I,J,D,M]")
    i_caps, j_caps, d, m = w
    c2 = c2w[0]
    if d < 1 or c2 % d:
        raise ValueError(f"conv2 outputs {c2} not divisible by primary dim {d}")
    decoder = []
    while f"decoder.{2 * len(decoder)}.weight" in shapes:
        dw = shape(f"decoder.{2 * len(decoder)}.weight")
        if len(dw) != 2:
            raise ValueError(f"decoder.{2 * len(decoder)}.weight has shape {list(dw)}, expected [out,in]")
        decoder.append(dw[0])
    input_size = IMAGE_SIZE
    if decoder:
        side = int(round(decoder[-1] ** 0.5))
        if side * side != decoder[-1]:
            raise ValueError(f"the decoder's last layer has {decoder[-1]} outputs, not a square image")
        input_size = side
    cfg = CapsConfig(conv1_channels=c1w[0], primary_types=c2 // d, primary_dim=d,
                     out_caps=j_caps, out_dim=m, iterations=iterations,
                     conv1_kernel=c1w[2], conv2_kernel=c2w[2], decoder=tuple(decoder), input_size=input_size)
    if cfg.grid < 1:
        raise ValueError(f"kernels {cfg.conv1_kernel} and {cfg.conv2_kernel} leave no primary grid "
                         f"on a {input_size}x{input_size} input")
    if cfg.in_caps != i_caps:
        raise ValueError(f"digit_capsules.weight has {i_caps} input capsules, conv2 gives {cfg.in_caps}")
    expected = expected_shapes(cfg)
    for k, s in expected.items():
        if shape(k) != s:
            raise ValueError(f"{k} has shape {list(shape(k))}, expected {list(s)}")
    extra = set(shapes) - set(expected)
    if extra:
        raise ValueError(f"unexpected tensors: {sorted(extra)}")
    return cfg


def expected_shapes(cfg):
    c = cfg
    out = {
        "conv1.weight": (c.conv1_channels, 1, c.conv1_kernel, c.conv1_kernel),
        "conv1.bias": (c.conv1_channels,),
        "conv2.weight": (c.primary_types * c.primary_dim, c.conv1_channels, c.conv2_kernel, c.conv2_kernel),
        "conv2.bias": (c.primary_types * c.primary_dim,),
        "digit_capsules.weight": (c.in_caps, c.out_caps, c.primary_dim, c.out_dim),
    }
    width = c.out_caps * c.out_dim
    for k, out_width in enumerate(c.decoder):
        out[f"decoder.{2 * k}.weight"] = (out_width, width)
        out[f"decoder.{2 * k}.bias"] = (out_width,)
        width = out_width
    return out


def model_from_state_dict(sd, iterations=3):
    """Build a CapsNet from a state_dict (any float dtype), loading it strictly in float32."""
    sd = normalise_keys(sd)
    cfg = infer_config({k: tuple(v.shape) for k, v in sd.items()}, iterations=iterations)
    model = CapsNet(cfg)
    model.load_state_dict({k: torch.as_tensor(v).to(torch.float32) for k, v in sd.items()}, strict=True)
    model.eval()
    return model


def load_h5_state_dict(path):
    """Read an HDF5 state_dict: float datasets at the root, or all inside one group."""
    import h5py

    sd = {}
    with h5py.File(path, "r") as f:
        root = f
        datasets = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
        groups = [k for k in f.keys() if isinstance(f[k], h5py.Group)]
        if not datasets and len(groups) == 1:
            root = f[groups[0]]

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                sd[name.replace("/", ".")] = torch.from_numpy(np.array(obj[()]))

        root.visititems(visit)
    return normalise_keys(sd)
