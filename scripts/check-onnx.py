#!/usr/bin/env python3
"""Checks a model written by `cnnc export --onnx` against cnnc's own evaluation outputs.

usage: check-onnx.py MODEL.onnx OUTPUTS.safetensors [--data DIR] [--count N]

OUTPUTS.safetensors comes from `cnnc eval RUN --save-outputs FILE` ('outputs' [10000, 10], 'labels').
Runs the ONNX checker, then onnxruntime on the first N MNIST test images normalized as cnnc
normalizes them (float32 (x / 255 - 0.1307) / 0.3081), and requires every output within 1e-4 of
cnnc's and the same argmax for every image. Needs onnx, onnxruntime, numpy, safetensors.
"""
import argparse, gzip, os, struct, sys
import numpy as np
import onnx, onnxruntime
from safetensors.numpy import load_file

def read_idx(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            data = (gzip.open if name.endswith(".gz") else open)(path, "rb").read()
            dims = struct.unpack(">" + "I" * data[3], data[4:4 + 4 * data[3]])
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * data[3]).reshape(dims)
    sys.exit(f"{stem}(.gz) not found in {directory}")

ap = argparse.ArgumentParser()
ap.add_argument("model"); ap.add_argument("outputs")
ap.add_argument("--data", default=os.environ.get("CNNC_DATA", "../shared/data/mnist"))
ap.add_argument("--count", type=int, default=1000)
a = ap.parse_args()

model = onnx.load(a.model)
onnx.checker.check_model(model, full_check=True)
opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
assert opset >= 13, f"opset {opset} < 13"
inp = model.graph.input[0].type.tensor_type
assert inp.elem_type == onnx.TensorProto.FLOAT and inp.shape.dim[0].dim_param, "float32 input with a symbolic batch dimension"

images = read_idx(a.data, "t10k-images-idx3-ubyte")[:a.count]
x = ((images.astype(np.float32) / np.float32(255)) - np.float32(0.1307)) / np.float32(0.3081)
x = x.reshape(len(x), 1, 28, 28).astype(np.float32)
session = onnxruntime.InferenceSession(a.model, providers=["CPUExecutionProvider"])
got = np.concatenate([session.run(None, {"input": x[i:i + 250]})[0] for i in range(0, len(x), 250)])
reference = load_file(a.outputs)
want = reference["outputs"][:a.count]
labels = reference["labels"][:a.count]
diff = float(np.abs(got - want).max())
agree = int((got.argmax(1) == want.argmax(1)).sum())
accuracy = float((got.argmax(1) == labels).mean())
print(f"onnx checker ok, opset {opset}; {len(x)} images: max |onnxruntime - cnnc| = {diff:.3g}, "
      f"argmax agrees on {agree}/{len(x)}, onnxruntime accuracy {accuracy:.4f}")
if diff > 1e-4 or agree != len(x):
    sys.exit("FAIL: ONNX outputs differ from cnnc's")
