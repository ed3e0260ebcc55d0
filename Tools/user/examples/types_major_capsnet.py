"""A user's own CapsNet that reads its primary capsules types-major (conv2 channel t*D + d).

This is the kind of model `Tools/user/record_activations.py` is for: written independently of
`Tools/user/capsnet.py` (nothing is imported from it), with labml's parameter names (so its state_dict
imports as the reference layout) but the other common primary reshape,
`x.view(N, T, D, G, G)`, so that capsule component d of type t is conv2 channel t*D + d. A checkpoint
cannot tell this from labml's d*T + t: import it with `capsconv import --primary-order types-major`.

    from types_major_capsnet import TypesMajorCapsNet
    model = TypesMajorCapsNet(conv1_channels=8, primary_types=4, primary_dim=4, out_dim=8, decoder=())

forward(x) takes normalised images [N, 1, 28, 28] and returns (digit capsules [N, J, M],
reconstruction [N, 28, 28] or None, predicted class [N]).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def squash(s):
    n2 = (s ** 2).sum(dim=-1, keepdim=True)
    return n2 / (1 + n2) * s / torch.sqrt(n2 + 1e-8)


class PrimaryCapsules(nn.Module):
    """conv2's output [N, T*D, G, G] -> squashed capsules [N, T*G*G, D], types-major."""

    def __init__(self, types, dim):
        super().__init__()
        self.types, self.dim = types, dim

    def forward(self, x):
        n, _, g, _ = x.shape
        u = x.view(n, self.types, self.dim, g, g).permute(0, 1, 3, 4, 2).reshape(n, self.types * g * g, self.dim)
        return squash(u)


class Routing(nn.Module):
    """Prediction vectors and dynamic routing (softmax over the input capsules, as labml)."""

    def __init__(self, in_caps, out_caps, in_dim, out_dim, iterations):
        super().__init__()
        self.iterations = iterations
        self.weight = nn.Parameter(0.05 * torch.randn(in_caps, out_caps, in_dim, out_dim))

    def forward(self, u):
        u_hat = (u[:, :, None, None, :] @ self.weight[None]).squeeze(-2)  # [N, I, J, M]
        b = torch.zeros(u_hat.shape[:3], dtype=u.dtype)
        for r in range(self.iterations):
            c = b.softmax(dim=1)
            v = squash((c[..., None] * u_hat).sum(dim=1))
            if r + 1 < self.iterations:
                b = b + (u_hat * v[:, None]).sum(dim=-1)
        return v


class TypesMajorCapsNet(nn.Module):
    def __init__(self, conv1_channels=256, primary_types=32, primary_dim=8, out_caps=10, out_dim=16,
                 iterations=3, decoder=(512, 1024, 784), kernel=9):
        super().__init__()
        grid = ((28 - kernel + 1) - kernel) // 2 + 1
        self.conv1 = nn.Conv2d(1, conv1_channels, kernel)
        self.conv2 = nn.Conv2d(conv1_channels, primary_types * primary_dim, kernel, stride=2)
        self.primary = PrimaryCapsules(primary_types, primary_dim)
        self.digit_capsules = Routing(primary_types * grid * grid, out_caps, primary_dim, out_dim, iterations)
        layers, width = [], out_caps * out_dim
        for k, w in enumerate(decoder):
            layers += [nn.Linear(width, w), nn.Sigmoid() if k == len(decoder) - 1 else nn.ReLU()]
            width = w
        self.decoder = nn.Sequential(*layers) if layers else None

    def forward(self, x):
        v = self.digit_capsules(self.primary(self.conv2(F.relu(self.conv1(x)))))
        pred = v.norm(dim=-1).argmax(dim=-1)
        recon = None
        if self.decoder is not None:
            masked = v * F.one_hot(pred, v.shape[1]).to(v.dtype)[..., None]
            recon = self.decoder(masked.flatten(1)).view(-1, 28, 28)
        return v, recon, pred
