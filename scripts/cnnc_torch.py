"""The PyTorch twin of a cnnc spec, shared by scripts/make-fixtures and scripts/lockstep-pytorch."""
import torch.nn as nn


def pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def build(spec, dropout=None):
    """The nn.Sequential a cnnc spec describes (implicit Flatten before a Linear after C×H×W), and each
    module's own weight_decay (None: the optimizer's). `dropout` overrides every Dropout's p."""
    shape = list(spec["input"])
    mods, decays = [], []
    for item in spec["layers"]:
        kind, args = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        args = dict(args or {})
        args.pop("name", None)
        decay = args.pop("weight_decay", None)
        if kind == "Conv2D":
            k, s, p = pair(args["kernel_size"]), pair(args.get("stride", 1)), pair(args.get("padding", 0))
            mods.append(nn.Conv2d(shape[0], args["out_channels"], k, s, p, bias=args.get("bias", True)))
            shape = [args["out_channels"], (shape[1] + 2 * p[0] - k[0]) // s[0] + 1, (shape[2] + 2 * p[1] - k[1]) // s[1] + 1]
        elif kind == "MaxPool2D":
            k = pair(args["kernel_size"]); s = pair(args.get("stride", args["kernel_size"])); p = pair(args.get("padding", 0))
            mods.append(nn.MaxPool2d(k, s, p))
            shape = [shape[0], (shape[1] + 2 * p[0] - k[0]) // s[0] + 1, (shape[2] + 2 * p[1] - k[1]) // s[1] + 1]
        elif kind == "BatchNorm2D":
            mods.append(nn.BatchNorm2d(shape[0], eps=args.get("eps", 1e-5), momentum=args.get("momentum", 0.1)))
        elif kind == "Dropout":
            mods.append(nn.Dropout(dropout if dropout is not None else args.get("p", 0.5)))
        elif kind == "ReLU":
            mods.append(nn.ReLU())
        elif kind == "Softmax":
            mods.append(nn.Softmax(dim=1))
        elif kind == "Linear":
            if len(shape) == 3:
                mods.append(nn.Flatten())
                decays.append(None)
                shape = [shape[0] * shape[1] * shape[2]]
            mods.append(nn.Linear(shape[0], args["out_features"], bias=args.get("bias", True)))
            shape = [args["out_features"]]
        else:
            raise SystemExit(f"unsupported layer {kind}")
        decays.append(decay)
    return nn.Sequential(*mods), decays


def parameter_groups(model, decays, weight_decay):
    """Optimizer groups: each module's parameters with its own weight decay, else the optimizer's."""
    groups = []
    for module, decay in zip(model, decays):
        params = list(module.parameters())
        if params:
            groups.append({"params": params, "weight_decay": decay if decay is not None else weight_decay})
    return groups




# --- MNIST as cnnc reads it -------------------------------------------------------------------------

def idx(path):
    """An IDX file (gzip or not) as a uint8 array of its shape."""
    import gzip
    import numpy as np
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(directory, stem):
    import os
    for name in (stem + ".gz", stem):
        if os.path.exists(os.path.join(directory, name)):
            return os.path.join(directory, name)
    raise SystemExit(f"missing {stem} in {directory}")


def normalized(images):
    """cnnc's table, (Float(x) / 255 − 0.1307) / 0.3081 in float32, applied to uint8 images [N, H, W]:
    a float32 tensor [N, 1, H, W]."""
    import numpy as np
    import torch
    table = ((np.arange(256, dtype=np.float32) / np.float32(255)) - np.float32(0.1307)) / np.float32(0.3081)
    return torch.tensor(table[images]).unsqueeze(1)


# --- cnnc's random streams (Sources/Runtime/Kernels/Random.swift), for twins that take cnnc's draws ---

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E37_79B9_7F4A_7C15


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK64


class SeededGenerator:
    """cnnc's xoshiro256** seeded through SplitMix64, draw for draw (slow: pure Python)."""

    def __init__(self, seed):
        mix, state = seed & MASK64, []
        for _ in range(4):
            mix = (mix + GOLDEN) & MASK64
            z = mix
            z = ((z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9) & MASK64
            z = ((z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB) & MASK64
            state.append(z ^ (z >> 31))
        self.state = state

    def next(self):
        s = self.state
        result = (_rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = _rotl(s[3], 45)
        return result

    def next_unit_float(self):
        return (self.next() >> 40) * (1.0 / 16_777_216.0)

    def next_int_below(self, bound):
        product = self.next() * bound
        if product & MASK64 < bound:
            threshold = ((1 << 64) - bound) % bound
            while product & MASK64 < threshold:
                product = self.next() * bound
        return product >> 64

    def shuffle(self, values):
        for i in range(len(values) - 1, 0, -1):
            j = self.next_int_below(i + 1)
            values[i], values[j] = values[j], values[i]

    def derived(self, salt):
        copy = SeededGenerator(0)
        copy.state = list(self.state)
        return SeededGenerator(copy.next() ^ ((salt * GOLDEN) & MASK64))


def _fmix32(x):
    import numpy as np
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x85EB_CA6B)
    x = x ^ (x >> np.uint32(13))
    x = x * np.uint32(0xC2B2_AE35)
    return x ^ (x >> np.uint32(16))


def cnnc_dropout_keep(step_seed, count, p):
    """cnnc's dropout mask for one step (`dropoutHash` in Kernels/Elementwise.swift): element i of
    the layer's [batch, features] output is kept when the top 24 bits of a keyed hash of i, as a
    float in [0, 1), are >= float32(p); a float32 array of 0 and 1."""
    import math
    import numpy as np
    low, high = np.uint32(step_seed & 0xFFFF_FFFF), np.uint32((step_seed >> 32) & 0xFFFF_FFFF)
    index = np.arange(count, dtype=np.uint32)
    with np.errstate(over="ignore"):
        h = _fmix32(_fmix32((index * np.uint32(0x9E37_79B9)) ^ low) ^ high)
    cut = math.ceil(float(np.float32(p)) * 16_777_216)
    return ((h >> np.uint32(8)) >= cut).astype(np.float32)
