"""Bench fixtures: one PyTorch BiLSTM and one BiGRU (D=64, H=128 per direction, concat), each
written twice.

  model.onnx            torch.onnx.export, batch_first, dynamic batch and time axes
  model.json/weights.bin the same weights in the Keras layout (TF.js layers format)
  probe_x.npy/probe_y.npy a [2, 12, 64] input and PyTorch's own output [2, 12, 256]
  forward.onnx/backward.onnx each direction alone as a one-way LSTM with states in and out
                        (h0, c0 -> y, hn, cn): how an ONNX Runtime user streams chunk by chunk;
                        backward.onnx holds the reverse weights and is fed time-reversed windows

  gru.onnx, gru.json/gru_weights.bin, gru_probe_x.npy/gru_probe_y.npy, gru_forward.onnx/
  gru_backward.onnx     the same for the BiGRU (one-way files: h0 -> y, hn), from its own seed so
                        the LSTM files stay as they were

Run with Debian's python3-torch: /usr/bin/python3 generate.py  (from this directory).
Keras LSTM: kernel [D, 4H], recurrent_kernel [H, 4H], bias [4H], gates i, f, c, o;
PyTorch weight_ih [4H, D], weight_hh [4H, H], gates i, f, g, o (same order), two biases.
Keras GRU (reset_after=True, the formulation PyTorch's nn.GRU computes): kernel [D, 3H],
recurrent_kernel [H, 3H], bias [2, 3H] (input bias, recurrent bias), gates z, r, h;
PyTorch weight_ih [3H, D], weight_hh [3H, H], gates r, z, n, biases b_ih and b_hh.
"""
import json

import numpy as np
import torch

D, H = 64, 128
torch.manual_seed(7)


class BiLstm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(D, H, batch_first=True, bidirectional=True)

    def forward(self, x):
        return self.lstm(x)[0]


model = BiLstm().eval()
x = torch.randn(2, 12, D)
with torch.no_grad():
    y = model(x)
np.save("probe_x.npy", x.numpy().astype(np.float32))
np.save("probe_y.npy", y.numpy().astype(np.float32))

torch.onnx.export(
    model, (x,), "model.onnx", input_names=["x"], output_names=["y"],
    dynamic_axes={"x": {0: "batch", 1: "time"}, "y": {0: "batch", 1: "time"}},
    opset_version=14)


class OneWay(torch.nn.Module):
    def __init__(self, suffix):
        super().__init__()
        self.lstm = torch.nn.LSTM(D, H, batch_first=True)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self.lstm, name + "_l0").copy_(getattr(model.lstm, name + "_l0" + suffix))

    def forward(self, x, h0, c0):
        y, (hn, cn) = self.lstm(x, (h0, c0))
        return y, hn, cn


for file, suffix in (("forward.onnx", ""), ("backward.onnx", "_reverse")):
    zeros = torch.zeros(1, 2, H)
    torch.onnx.export(
        OneWay(suffix).eval(), (x, zeros, zeros), file, input_names=["x", "h0", "c0"],
        output_names=["y", "hn", "cn"], opset_version=14,
        dynamic_axes={"x": {0: "batch", 1: "time"}, "h0": {1: "batch"}, "c0": {1: "batch"},
                      "y": {0: "batch", 1: "time"}, "hn": {1: "batch"}, "cn": {1: "batch"}})


def keras_weights(suffix):
    p = dict(model.lstm.named_parameters())
    kernel = p["weight_ih_l0" + suffix].detach().numpy().T
    recurrent = p["weight_hh_l0" + suffix].detach().numpy().T
    bias = (p["bias_ih_l0" + suffix] + p["bias_hh_l0" + suffix]).detach().numpy()
    return [kernel, recurrent, bias]


lstm_config = {"name": "lstm", "units": H, "activation": "tanh", "recurrent_activation": "sigmoid",
               "use_bias": True, "return_sequences": True, "return_state": False,
               "go_backwards": False, "stateful": False, "unroll": False, "dropout": 0,
               "recurrent_dropout": 0}
topology = {"class_name": "Sequential", "config": {"name": "bench_bilstm", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [None, None, D],
                                            "dtype": "float32", "name": "x"}},
    {"class_name": "Bidirectional", "config": {"name": "bilstm", "merge_mode": "concat",
                                               "layer": {"class_name": "LSTM",
                                                         "config": lstm_config}}}]}}
names, arrays = [], []
for direction, suffix in (("forward", ""), ("backward", "_reverse")):
    for part, a in zip(("kernel", "recurrent_kernel", "bias"), keras_weights(suffix)):
        names.append({"name": f"bilstm/{direction}_lstm/{part}", "shape": list(a.shape),
                      "dtype": "float32"})
        arrays.append(np.ascontiguousarray(a, dtype="<f4"))
with open("weights.bin", "wb") as f:
    for a in arrays:
        f.write(a.tobytes())
with open("model.json", "w") as f:
    json.dump({"format": "layers-model", "generatedBy": "generate.py (PyTorch weights)",
               "modelTopology": topology,
               "weightsManifest": [{"paths": ["weights.bin"], "weights": names}]}, f)
print("wrote model.onnx, forward.onnx, backward.onnx, model.json, weights.bin, probes")

# ---------------------------------------------------------------- BiGRU
torch.manual_seed(11)


class BiGru(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = torch.nn.GRU(D, H, batch_first=True, bidirectional=True)

    def forward(self, x):
        return self.gru(x)[0]


gru = BiGru().eval()
gx = torch.randn(2, 12, D)
with torch.no_grad():
    gy = gru(gx)
np.save("gru_probe_x.npy", gx.numpy().astype(np.float32))
np.save("gru_probe_y.npy", gy.numpy().astype(np.float32))

torch.onnx.export(
    gru, (gx,), "gru.onnx", input_names=["x"], output_names=["y"],
    dynamic_axes={"x": {0: "batch", 1: "time"}, "y": {0: "batch", 1: "time"}},
    opset_version=14)


class OneWayGru(torch.nn.Module):
    def __init__(self, suffix):
        super().__init__()
        self.gru = torch.nn.GRU(D, H, batch_first=True)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self.gru, name + "_l0").copy_(getattr(gru.gru, name + "_l0" + suffix))

    def forward(self, x, h0):
        y, hn = self.gru(x, h0)
        return y, hn


for file, suffix in (("gru_forward.onnx", ""), ("gru_backward.onnx", "_reverse")):
    torch.onnx.export(
        OneWayGru(suffix).eval(), (gx, torch.zeros(1, 2, H)), file, input_names=["x", "h0"],
        output_names=["y", "hn"], opset_version=14,
        dynamic_axes={"x": {0: "batch", 1: "time"}, "h0": {1: "batch"},
                      "y": {0: "batch", 1: "time"}, "hn": {1: "batch"}})


def keras_gru_weights(suffix):
    p = {k: v.detach().numpy() for k, v in gru.gru.named_parameters()}

    def zrh(a):  # PyTorch blocks r, z, n -> Keras z, r, h (along axis 0)
        r, z, n = np.split(a, 3, axis=0)
        return np.concatenate([z, r, n], axis=0)

    kernel = zrh(p["weight_ih_l0" + suffix]).T
    recurrent = zrh(p["weight_hh_l0" + suffix]).T
    bias = np.stack([zrh(p["bias_ih_l0" + suffix]), zrh(p["bias_hh_l0" + suffix])])
    return [kernel, recurrent, bias]


gru_config = {"name": "gru", "units": H, "activation": "tanh", "recurrent_activation": "sigmoid",
              "use_bias": True, "return_sequences": True, "return_state": False,
              "go_backwards": False, "stateful": False, "unroll": False, "dropout": 0,
              "recurrent_dropout": 0, "reset_after": True}
gru_topology = {"class_name": "Sequential", "config": {"name": "bench_bigru", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [None, None, D],
                                            "dtype": "float32", "name": "x"}},
    {"class_name": "Bidirectional", "config": {"name": "bigru", "merge_mode": "concat",
                                               "layer": {"class_name": "GRU",
                                                         "config": gru_config}}}]}}
names, arrays = [], []
for direction, suffix in (("forward", ""), ("backward", "_reverse")):
    for part, a in zip(("kernel", "recurrent_kernel", "bias"), keras_gru_weights(suffix)):
        names.append({"name": f"bigru/{direction}_gru/{part}", "shape": list(a.shape),
                      "dtype": "float32"})
        arrays.append(np.ascontiguousarray(a, dtype="<f4"))
with open("gru_weights.bin", "wb") as f:
    for a in arrays:
        f.write(a.tobytes())
with open("gru.json", "w") as f:
    json.dump({"format": "layers-model", "generatedBy": "generate.py (PyTorch weights)",
               "modelTopology": gru_topology,
               "weightsManifest": [{"paths": ["gru_weights.bin"], "weights": names}]}, f)
print("wrote gru.onnx, gru_forward.onnx, gru_backward.onnx, gru.json, gru_weights.bin, probes")
