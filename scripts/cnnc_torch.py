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


