"""A PyTorch model that computes exactly what XifengGuo/CapsNet-Keras computes, on weights held in
Keras's shapes, and writes/reads them in the HDF5 structure Keras uses. Keras itself is not needed.
Written from the description in docs/ARCHITECTURE.md ("Other implementations") and docs/FORMAT.md §5,
not copied.

Weights (T primary types, D capsule dimension, J outputs, M output dimension, G x G grid):
  conv1/kernel:0 (9, 9, 1, C1), conv1/bias:0 (C1,)
  primarycap_conv2d/kernel:0 (9, 9, C1, T*D), primarycap_conv2d/bias:0 (T*D,)
  digitcaps/W:0 (J, G*G*T, M, D)
  decoder: dense_1..3 kernel:0 (in, out), bias:0 (out,)
Forward, as Keras computes it: input pixel/255 as NHWC; conv1 + ReLU; primary conv; Reshape of the NHWC
output to (G*G*T, D), so capsule (h*G + w)*T + t takes channels t*D .. t*D + D-1; squash with K.epsilon()
= 1e-7 inside the square root; inputs_hat[j, i, m] = sum_d W[j, i, m, d] u[i, d]; routing logits per
sample, softmax over the OUTPUT capsules, 3 iterations; length; decoder on the masked capsules, output
reshaped to (28, 28, 1).

File structure (`save_weights`): root attributes layer_names (array of bytes), backend, keras_version;
one group per layer with attribute weight_names; datasets <layer>/<weight name>. `model.save` files put
the same tree under /model_weights (with layer_names on that group) beside model_config and
optimizer_weights.
"""

import json

import numpy as np
import torch
import torch.nn.functional as F

EPSILON = 1e-7
LAYERS = ["input_1", "conv1", "primarycap_conv2d", "primarycap_reshape", "primarycap_squash", "digitcaps",
          "input_2", "mask_1", "capsnet", "mask_2", "decoder"]


def squash(s, dim=-1):
    s2 = (s * s).sum(dim=dim, keepdim=True)
    return s2 / (1 + s2) / torch.sqrt(s2 + EPSILON) * s


class KerasCapsNet(torch.nn.Module):
    def __init__(self, conv1_channels=16, types=4, dimension=8, outputs=10, out_dimension=8, decoder=(64, 128)):
        super().__init__()
        self.types, self.dimension, self.outputs = types, dimension, outputs
        p = torch.nn.Parameter
        self.conv1_kernel = p(torch.randn(9, 9, 1, conv1_channels) * 0.1)
        self.conv1_bias = p(torch.zeros(conv1_channels))
        self.primary_kernel = p(torch.randn(9, 9, conv1_channels, types * dimension) * 0.03)
        self.primary_bias = p(torch.zeros(types * dimension))
        self.W = p(torch.randn(outputs, 36 * types, out_dimension, dimension) * 0.1)
        widths = [outputs * out_dimension, *decoder, 784]
        self.dense = torch.nn.ParameterList()
        for k in range(len(widths) - 1):
            self.dense.append(p(torch.randn(widths[k], widths[k + 1]) / widths[k] ** 0.5))
            self.dense.append(p(torch.zeros(widths[k + 1])))

    @staticmethod
    def conv(x_nhwc, kernel, bias, stride):
        # Keras Conv2D (valid padding, cross-correlation) on NHWC with an HWIO kernel.
        y = F.conv2d(x_nhwc.permute(0, 3, 1, 2), kernel.permute(3, 2, 0, 1), bias, stride=stride)
        return y.permute(0, 2, 3, 1)

    def capsules(self, x, record=None):
        c1 = F.relu(self.conv(x, self.conv1_kernel, self.conv1_bias, 1))
        c2 = self.conv(c1, self.primary_kernel, self.primary_bias, 2)  # [N, G, G, T*D]
        u = squash(c2.reshape(x.size(0), -1, self.dimension))  # Keras Reshape: [N, G*G*T, D]
        u_hat = torch.einsum("jimd,bid->bjim", self.W, u)  # [N, J, I, M]
        b = torch.zeros(u_hat.shape[:3])
        v = None
        for r in range(3):
            c = torch.softmax(b, dim=1)  # over the output capsules
            if record is not None:
                record.append(c)
            v = squash(torch.einsum("bji,bjim->bjm", c, u_hat))
            if r < 2:
                b = b + torch.einsum("bjm,bjim->bji", v, u_hat)
        return c1, c2, u, u_hat, v

    def decode(self, v, prediction):
        h = (v * F.one_hot(prediction, self.outputs).to(v.dtype)[:, :, None]).reshape(v.size(0), -1)
        layers = len(self.dense) // 2
        for k in range(layers):
            h = h @ self.dense[2 * k] + self.dense[2 * k + 1]
            h = torch.relu(h) if k < layers - 1 else torch.sigmoid(h)
        return h.reshape(-1, 28, 28, 1)

    def forward(self, x):
        v = self.capsules(x)[-1]
        return v, (v * v).sum(-1).sqrt()

    @torch.no_grad()
    def stages(self, x):
        """Every stage, converted to the reference layouts of docs/FORMAT.md section 3."""
        record = []
        c1, c2, u, u_hat, v = self.capsules(x, record)
        n, g, t, d = x.size(0), c2.size(1), self.types, self.dimension
        # Keras capsule (h*G + w)*T + t  ->  reference t*G*G + h*G + w
        order = torch.tensor([(cell * t + k) for k in range(t) for cell in range(g * g)])
        # Keras channel t*D + d  ->  reference channel d*T + t
        channels = torch.tensor([(k % t) * d + k // t for k in range(t * d)])
        lengths = (v * v).sum(-1).sqrt()
        prediction = lengths.argmax(-1)
        return {
            "input": x.permute(0, 3, 1, 2), "conv1": c1.permute(0, 3, 1, 2),
            "conv2": c2.permute(0, 3, 1, 2)[:, channels], "primary": u[:, order],
            "u_hat": u_hat.permute(0, 2, 1, 3)[:, order],  # [N, I, J, M]
            "coupling": torch.stack([c.permute(0, 2, 1)[:, order] for c in record]),  # [R, N, I, J]
            "digit_caps": v, "lengths": lengths, "prediction": prediction,
            "reconstruction": self.decode(v, prediction)[..., 0],
        }

    def keras_weights(self):
        """{layer: [(weight name, array)]} in Keras's names and shapes."""
        dense = {}
        for k in range(len(self.dense) // 2):
            dense[f"dense_{k + 1}/kernel:0"] = self.dense[2 * k]
            dense[f"dense_{k + 1}/bias:0"] = self.dense[2 * k + 1]
        weights = {
            "conv1": {"conv1/kernel:0": self.conv1_kernel, "conv1/bias:0": self.conv1_bias},
            "primarycap_conv2d": {"primarycap_conv2d/kernel:0": self.primary_kernel,
                                  "primarycap_conv2d/bias:0": self.primary_bias},
            "digitcaps": {"digitcaps/W:0": self.W},
            "decoder": dense,
        }
        return {layer: [(n, w.detach().numpy().astype(np.float32)) for n, w in ws.items()]
                for layer, ws in weights.items()}


def write_weights(group, weights):
    """The save_weights structure inside an h5py group."""
    group.attrs["layer_names"] = np.array([name.encode() for name in LAYERS])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = b"2.2.4"
    for layer in LAYERS:
        g = group.create_group(layer)
        items = weights.get(layer, [])
        g.attrs["weight_names"] = np.array([n.encode() for n, _ in items], dtype="S" if items else "S1")
        for name, array in items:
            g.create_dataset(name, data=array)


def save_weights(path, model):
    import h5py

    with h5py.File(path, "w") as f:
        write_weights(f, model.keras_weights())


def save_model(path, model):
    """The structure of Keras's model.save: weights under /model_weights, plus config and optimizer."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Model", "config": {"name": "capsnet"}}).encode()
        f.attrs["training_config"] = json.dumps({"loss": ["margin_loss", "mse"]}).encode()
        write_weights(f.create_group("model_weights"), model.keras_weights())
        opt = f.create_group("optimizer_weights")
        opt.attrs["weight_names"] = np.array([b"training/Adam/iterations:0"])
        opt.create_dataset("training/Adam/iterations:0", data=np.int64(100))


def preprocess(pixels):
    """Keras's input: pixel / 255 as NHWC float32 [N, 28, 28, 1]."""
    return torch.as_tensor(pixels, dtype=torch.float32).reshape(-1, 28, 28, 1) / 255.0
