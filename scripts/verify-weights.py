#!/usr/bin/env python3
"""Loads a cnnc run's weights.safetensors into the PyTorch nn.Sequential that
../shared/reference/torch_ref.py builds from the same spec (strict load_state_dict), then
evaluates it on the MNIST test set.

usage: scripts/verify-weights.py RUN_DIR [--data DIR]
needs: torch, numpy, pyyaml, safetensors (see README: "Checking the weights in PyTorch")
"""
import argparse, glob, json, os, sys

import torch
from safetensors.torch import load_file

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "shared", "reference"))
import torch_ref  # noqa: E402
import yaml  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--data", default=os.environ.get("CNNC_DATA", os.path.join(here, "..", "..", "shared", "data", "mnist")))
    a = ap.parse_args()
    summary = json.load(open(os.path.join(a.run, "summary.json")))
    spec_path = os.path.join(a.run, os.path.basename(summary["spec"]))
    spec = yaml.safe_load(open(spec_path))
    model, _ = torch_ref.build(spec, summary["settings"]["dropout"])
    state = load_file(os.path.join(a.run, "weights.safetensors"))
    model.load_state_dict(state, strict=True)
    model.eval()
    xt = torch.tensor(((torch_ref.idx(torch_ref.find(a.data, "t10k-images-idx3-ubyte")).astype("float32") / 255.0) - 0.1307) / 0.3081).unsqueeze(1)
    yt = torch.tensor(torch_ref.idx(torch_ref.find(a.data, "t10k-labels-idx1-ubyte")).astype("int64"))
    with torch.no_grad():
        correct = sum((model(xt[i:i + 1000]).argmax(1) == yt[i:i + 1000]).sum().item() for i in range(0, len(xt), 1000))
    acc = correct / len(xt)
    print(f"loaded {len(state)} tensors strictly; PyTorch test accuracy {acc:.4f}; cnnc reported {summary['final_test_accuracy']:.4f}")
    sys.exit(0 if abs(acc - summary["final_test_accuracy"]) < 1e-3 else 1)


if __name__ == "__main__":
    main()
