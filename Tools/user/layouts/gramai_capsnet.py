"""A CapsNet in the layout of gram-ai/capsule-networks, written from its description in
docs/ARCHITECTURE.md ("Other implementations") and docs/FORMAT.md §5, not copied.

state_dict keys and shapes (T primary types, D capsule dimension, J outputs, M output dimension):
  conv1.weight [C1, 1, 9, 9], conv1.bias [C1]
  primary_capsules.capsules.{0..D-1}.weight [T, C1, 9, 9] / .bias [T]   (D convolutions of T channels)
  digit_capsules.route_weights [J, I, D, M]
  decoder.{0,2,4}.weight / .bias                                          (Linear, ReLU, ..., Sigmoid)
Forward, as gram-ai computes it: input pixel/255 (no normalisation); primary capsule i = t*G*G + h*G + w
takes component d from convolution d's channel t at (h, w); squash without epsilon
(s2 / (1 + s2) * s / sqrt(s2)); priors = u @ W per (j, i); routing logits per sample, softmax over the
input capsules, 3 iterations; class = longest output capsule; decoder on the masked capsules.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def squash(s, dim=-1):
    s2 = (s * s).sum(dim=dim, keepdim=True)
    return (s2 / (1 + s2)) * s / torch.sqrt(s2)


class PrimaryCapsules(nn.Module):
    def __init__(self, components, in_channels, types, kernel=9, stride=2):
        super().__init__()
        self.capsules = nn.ModuleList(
            [nn.Conv2d(in_channels, types, kernel_size=kernel, stride=stride) for _ in range(components)])

    def forward(self, x):
        # [N, T*G*G] per convolution -> [N, I, D]
        return torch.cat([conv(x).reshape(x.size(0), -1, 1) for conv in self.capsules], dim=-1)


class DigitCapsules(nn.Module):
    def __init__(self, outputs, inputs, dimension, out_dimension, iterations=3):
        super().__init__()
        self.iterations = iterations
        self.route_weights = nn.Parameter(torch.randn(outputs, inputs, dimension, out_dimension) * 0.5)

    def priors(self, u):
        # [1, N, I, 1, D] @ [J, 1, I, D, M] -> [J, N, I, 1, M]
        return u[None, :, :, None, :] @ self.route_weights[:, None, :, :, :]

    def route(self, priors, record=None):
        logits = torch.zeros_like(priors[..., :1])  # [J, N, I, 1, 1]
        outputs = None
        for r in range(self.iterations):
            probs = torch.softmax(logits, dim=2)  # over the input capsules
            if record is not None:
                record.append(probs)
            outputs = squash((probs * priors).sum(dim=2, keepdim=True))  # [J, N, 1, 1, M]
            if r != self.iterations - 1:
                logits = logits + (priors * outputs).sum(dim=-1, keepdim=True)
        return outputs


class GramAICapsNet(nn.Module):
    def __init__(self, conv1_channels=16, types=4, dimension=8, outputs=10, out_dimension=8,
                 decoder=(64, 128)):
        super().__init__()
        self.outputs, self.out_dimension = outputs, out_dimension
        self.conv1 = nn.Conv2d(1, conv1_channels, kernel_size=9, stride=1)
        self.primary_capsules = PrimaryCapsules(dimension, conv1_channels, types)
        self.digit_capsules = DigitCapsules(outputs, types * 36, dimension, out_dimension)
        widths = [outputs * out_dimension, *decoder, 784]
        layers = []
        for k in range(len(widths) - 1):
            layers += [nn.Linear(widths[k], widths[k + 1]), nn.ReLU() if k < len(widths) - 2 else nn.Sigmoid()]
        self.decoder = nn.Sequential(*layers)

    def capsules(self, x, record=None):
        x1 = F.relu(self.conv1(x))
        u = squash(self.primary_capsules(x1))
        priors = self.digit_capsules.priors(u)
        v = self.digit_capsules.route(priors, record)
        n = x.size(0)
        return x1, u, priors, v.reshape(self.outputs, n, self.out_dimension).transpose(0, 1)  # [N, J, M]

    def decode(self, v, prediction):
        mask = F.one_hot(prediction, self.outputs).to(v.dtype)
        return self.decoder((v * mask[:, :, None]).reshape(v.size(0), -1)).reshape(-1, 28, 28)

    def forward(self, x):
        _, _, _, v = self.capsules(x)
        lengths = (v * v).sum(-1).sqrt()
        return v, lengths

    @torch.no_grad()
    def stages(self, x):
        """Every stage, converted to the reference layouts of docs/FORMAT.md section 3 (all comparable)."""
        record = []
        x1, u, priors, v = self.capsules(x, record)
        n = x.size(0)
        conv2 = torch.cat([conv(x1) for conv in self.primary_capsules.capsules], dim=1)  # channel d*T + t
        lengths = (v * v).sum(-1).sqrt()
        prediction = lengths.argmax(-1)
        return {
            "input": x, "conv1": x1, "conv2": conv2, "primary": u,
            "u_hat": priors[:, :, :, 0, :].permute(1, 2, 0, 3),  # [N, I, J, M]
            "coupling": torch.stack([c[:, :, :, 0, 0].permute(1, 2, 0) for c in record]),  # [R, N, I, J]
            "digit_caps": v, "lengths": lengths, "prediction": prediction,
            "reconstruction": self.decode(v, prediction),
        }


def preprocess(pixels):
    """gram-ai's input: pixel / 255, no normalisation. uint8 [N,28,28] -> float [N,1,28,28]."""
    return torch.as_tensor(pixels, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0
