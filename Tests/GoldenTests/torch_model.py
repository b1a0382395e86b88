"""The reference that vaelab's engine is held to: its convolutional VAE / AE in PyTorch.

Written from DESIGN.md's definition, not from vaelab's code, with Keras's "same" padding
reproduced exactly (it is asymmetric for the stride-2 layers):

    conv 3x3/2 "same" on an even side n: pad 0 before, 1 after (TF's pad_total = 1, before = 0)
    its transposed conv: the full transposed conv (side 2n + 1), cropped to its first 2n rows/cols
    conv-transpose 3x3/1 "same": padding 1 on every side

Parameters use vaelab's names and layouts (checkpoint tensors): conv [O, C, 3, 3], transposed
conv [C_in, C_out, 3, 3] (PyTorch's), dense [out, in]. Loss: Bernoulli cross-entropy from
logits summed over pixels plus beta * KL(q(z|x) || N(0, I)) summed over latent dimensions, both
averaged over the batch ("nats per image"). Adam in Keras's form (epsilon outside the square
root, bias correction folded into the step size, epsilon = 1e-7).
"""

import math

import torch
import torch.nn.functional as F


def parameter_shapes(model, latent_dim, hidden_units):
    """vaelab's parameter names and shapes, in its ParameterStore order."""
    heads = ["z_mean", "z_log_var"] if model == "vae" else ["z"]
    shapes = [
        ("encoder.conv1", [32, 1, 3, 3], [32]),
        ("encoder.conv2", [64, 32, 3, 3], [64]),
        ("encoder.dense", [hidden_units, 3136], [hidden_units]),
    ]
    shapes += [(f"encoder.{h}", [latent_dim, hidden_units], [latent_dim]) for h in heads]
    shapes += [
        ("decoder.dense", [3136, latent_dim], [3136]),
        ("decoder.deconv1", [64, 64, 3, 3], [64]),
        ("decoder.deconv2", [64, 32, 3, 3], [32]),
        ("decoder.deconv3", [32, 1, 3, 3], [1]),
    ]
    out = []
    for name, weight, bias in shapes:
        out += [(f"{name}.weight", weight), (f"{name}.bias", bias)]
    return out


def glorot_uniform(shapes, generator, dtype=torch.float32):
    """Keras's defaults: Glorot-uniform weights (fans as Keras counts them), zero biases."""
    params = {}
    for name, shape in shapes:
        if name.endswith(".bias"):
            params[name] = torch.zeros(shape, dtype=dtype)
            continue
        # dense [out, in]; conv [O, C, k, k]; transposed conv [C_in, C_out, k, k], which Keras
        # stores as (k, k, out, in): in every case fan_in = shape[1] * taps, fan_out = shape[0] * taps.
        taps = shape[2] * shape[3] if len(shape) == 4 else 1
        fan_in, fan_out = shape[1] * taps, shape[0] * taps
        limit = math.sqrt(6 / (fan_in + fan_out))
        params[name] = (torch.rand(shape, generator=generator, dtype=dtype) * 2 - 1) * limit
    return params


def _conv_s2(x, w, b):
    return F.conv2d(F.pad(x, (0, 1, 0, 1)), w, b, stride=2)


def _deconv_s2(x, w, b):
    h, w_ = x.shape[2], x.shape[3]
    return F.conv_transpose2d(x, w, b, stride=2)[:, :, : 2 * h, : 2 * w_]


def encode(p, x):
    """x [N, 1, 28, 28] -> (mu [N, d], logvar [N, d] or None)."""
    h = F.relu(_conv_s2(x, p["encoder.conv1.weight"], p["encoder.conv1.bias"]))
    h = F.relu(_conv_s2(h, p["encoder.conv2.weight"], p["encoder.conv2.bias"]))
    h = F.relu(F.linear(h.flatten(1), p["encoder.dense.weight"], p["encoder.dense.bias"]))
    if "encoder.z.weight" in p:
        return F.linear(h, p["encoder.z.weight"], p["encoder.z.bias"]), None
    mu = F.linear(h, p["encoder.z_mean.weight"], p["encoder.z_mean.bias"])
    return mu, F.linear(h, p["encoder.z_log_var.weight"], p["encoder.z_log_var.bias"])


def decode(p, z):
    """z [N, d] -> logits [N, 1, 28, 28]."""
    h = F.relu(F.linear(z, p["decoder.dense.weight"], p["decoder.dense.bias"]))
    h = h.reshape(-1, 64, 7, 7)
    h = F.relu(_deconv_s2(h, p["decoder.deconv1.weight"], p["decoder.deconv1.bias"]))
    h = F.relu(_deconv_s2(h, p["decoder.deconv2.weight"], p["decoder.deconv2.bias"]))
    return F.conv_transpose2d(h, p["decoder.deconv3.weight"], p["decoder.deconv3.bias"], padding=1)


def loss_parts(p, x, eps=None, beta=1.0):
    """(recon, kl, total) in nats per image; eps [N, d] is the VAE's noise (None for the AE)."""
    n = x.shape[0]
    mu, logvar = encode(p, x)
    if logvar is None:
        z, kl = mu, torch.zeros((), dtype=x.dtype)
    else:
        z = mu + torch.exp(0.5 * logvar) * eps
        kl = -0.5 * torch.sum(1 + logvar - mu * mu - torch.exp(logvar)) / n
    recon = F.binary_cross_entropy_with_logits(decode(p, z), x, reduction="sum") / n
    return recon, kl, recon + beta * kl


def per_image_losses(p, x, eps=None):
    """Per-image recon and KL [N] and the posterior means, without gradients."""
    with torch.no_grad():
        mu, logvar = encode(p, x)
        if logvar is None:
            z, kl = mu, torch.zeros(x.shape[0], dtype=x.dtype)
        else:
            z = mu + torch.exp(0.5 * logvar) * eps
            kl = -0.5 * torch.sum(1 + logvar - mu * mu - torch.exp(logvar), dim=1)
        bce = F.binary_cross_entropy_with_logits(decode(p, z), x, reduction="none")
        return bce.flatten(1).sum(1), kl, mu


class KerasAdam:
    """m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)."""

    def __init__(self, params, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
        self.params, self.lr, self.b1, self.b2, self.eps, self.t = params, lr, b1, b2, eps, 0
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}

    @torch.no_grad()
    def step(self, grads):
        self.t += 1
        alpha = self.lr * math.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t)
        for k, p in self.params.items():
            g = grads[k]
            self.m[k].mul_(self.b1).add_(g, alpha=1 - self.b1)
            self.v[k].mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            p.sub_(alpha * self.m[k] / (self.v[k].sqrt() + self.eps))


def gradients(p, x, eps=None, beta=1.0):
    """Loss parts (floats) and the gradient of the total for every parameter."""
    leaves = {k: v.detach().requires_grad_(True) for k, v in p.items()}
    recon, kl, total = loss_parts(leaves, x, eps, beta)
    total.backward()
    grads = {k: v.grad.detach() for k, v in leaves.items()}
    return (recon.item(), kl.item(), total.item()), grads
