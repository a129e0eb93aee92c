#!/usr/bin/python3
"""Trains the bundled demo BiLSTM and writes it as a TF.js layers model.

Task ("rise ahead"): at step t, will x0 rise by more than 0.5 within the next 8 steps?
    label[t] = max(x0[t+1 .. t+8]) - x0[t] > 0.5
The window is cut at the sequence end (the last step has no future: label 0). The label
depends on the future, so a bidirectional model should beat a causal one of the same size.

Inputs follow DemoCommand.generate (cli/src/main/java/io/bistream/cli/DemoCommand.java),
the generator the demo streams, so the model sees the distribution it was trained on:
    x0[i] = sin(f1*i + p1) + sin(f2*i + p2) + N(0, 0.1^2)   f ~ U[0.05, 0.3) rad/step,
                                                             p ~ U[0, 2*pi)
    x1[i] = x0[i] - x0[i-1]  (0 at i = 0)
    x2, x3 ~ N(0, 1) (distractors)
    T ~ U{40 .. 160}

Model (Keras terms): Bidirectional(LSTM 16, return_sequences) -> Bidirectional(LSTM 16,
return_sequences) -> TimeDistributed(Dense 2, softmax), input [None, None, 4].
Causal baseline: LSTM 32 -> LSTM 32 -> Dense 2 (same output width per layer, more weights).

Writes, next to the Java code that uses them:
    cli/src/main/resources/demo/model.json, weights.bin     the TF.js layers model
    cli/src/test/resources/demo-model/probe_x.npy           [8, 120, 4] float32
    cli/src/test/resources/demo-model/probe_y.npy           [8, 120, 2] torch softmax
    cli/src/test/resources/demo-model/probe_labels.npy      [8, 120] int32
    cli/src/test/resources/demo-model/metrics.json          accuracies (both models)

Run from the repository root:  /usr/bin/python3 tools/demo-model/train.py
"""

import json
import math
import os
import sys
import time

import numpy as np
import torch
from torch import nn

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL_DIR = os.path.join(ROOT, "cli", "src", "main", "resources", "demo")
TEST_DIR = os.path.join(ROOT, "cli", "src", "test", "resources", "demo-model")

D = 4
HORIZON = 8
RISE = 0.5
MIN_T, MAX_T = 40, 160
HIDDEN = 16


def generate(rng, n, length=None):
    """n sequences as in DemoCommand.generate; one length per call (a batch has one T)."""
    t = length if length is not None else int(rng.integers(MIN_T, MAX_T + 1))
    f = rng.uniform(0.05, 0.30, size=(n, 2, 1))
    p = rng.uniform(0.0, 2 * math.pi, size=(n, 2, 1))
    i = np.arange(t)[None, None, :]
    x0 = np.sin(f * i + p).sum(axis=1) + 0.1 * rng.standard_normal((n, t))  # (n, t)
    x = np.empty((n, t, D), dtype=np.float64)
    x[:, :, 0] = x0
    x[:, 0, 1] = 0.0
    x[:, 1:, 1] = x0[:, 1:] - x0[:, :-1]
    x[:, :, 2:] = rng.standard_normal((n, t, D - 2))
    return x.astype(np.float32), labels(x.astype(np.float32)[:, :, 0])


def labels(x0):
    """label[t] = max(x0[t+1 .. t+8]) - x0[t] > 0.5, window cut at the end."""
    n, t = x0.shape
    ahead = np.full((n, t), -np.inf, dtype=np.float32)
    for k in range(1, HORIZON + 1):
        ahead[:, : t - k] = np.maximum(ahead[:, : t - k], x0[:, k:])
    return (ahead - x0 > RISE).astype(np.int64)


class BiTagger(nn.Module):
    """Torch twin of the Keras model; nn.LSTM(bidirectional) concatenates [fwd, bwd] as Keras."""

    def __init__(self):
        super().__init__()
        self.bi1 = nn.LSTM(D, HIDDEN, batch_first=True, bidirectional=True)
        self.bi2 = nn.LSTM(2 * HIDDEN, HIDDEN, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * HIDDEN, 2)

    def forward(self, x):  # (N, T, D) -> logits (N, T, 2)
        h, _ = self.bi1(x)
        h, _ = self.bi2(h)
        return self.head(h)


class CausalTagger(nn.Module):
    """Baseline that sees only the past: unidirectional, same per-layer output width (32)."""

    def __init__(self):
        super().__init__()
        self.rnn1 = nn.LSTM(D, 2 * HIDDEN, batch_first=True)
        self.rnn2 = nn.LSTM(2 * HIDDEN, 2 * HIDDEN, batch_first=True)
        self.head = nn.Linear(2 * HIDDEN, 2)

    def forward(self, x):
        h, _ = self.rnn1(x)
        h, _ = self.rnn2(h)
        return self.head(h)


def accuracy(model, batches):
    right = total = 0
    with torch.no_grad():
        for x, y in batches:
            pred = model(torch.from_numpy(x)).argmax(-1).numpy()
            right += int((pred == y).sum())
            total += y.size
    return right / total


def train(model, train_batches, val_batches, epochs, name):
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss()
    order = np.random.default_rng(1).permutation
    start = time.time()
    for epoch in range(epochs):
        model.train()
        for b in order(len(train_batches)):
            x, y = train_batches[b]
            opt.zero_grad()
            logits = model(torch.from_numpy(x))
            loss = loss_fn(logits.reshape(-1, 2), torch.from_numpy(y).reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        sched.step()
        if epoch % 3 == 2 or epoch == epochs - 1:
            model.eval()
            print(
                f"  {name} epoch {epoch + 1:2d}: loss {loss.item():.4f}"
                f"  val acc {accuracy(model, val_batches):.4f}  ({time.time() - start:.0f} s)",
                flush=True,
            )
    model.eval()
    return accuracy(model, train_batches), accuracy(model, val_batches)


# ------------------------------------------------------------------ TF.js layers export


def lstm_config(name, units):
    return {
        "name": name,
        "trainable": True,
        "units": units,
        "activation": "tanh",
        "recurrent_activation": "sigmoid",
        "use_bias": True,
        "unit_forget_bias": True,
        "dropout": 0,
        "recurrent_dropout": 0,
        "return_sequences": True,
        "return_state": False,
        "go_backwards": False,
        "stateful": False,
        "unroll": False,
    }


def keras_lstm(lstm, suffix):
    """torch (i,f,g,o) rows -> Keras (i,f,c,o) columns: same gate order, transposed."""
    w_ih = getattr(lstm, "weight_ih_l0" + suffix).detach().numpy()  # (4H, in)
    w_hh = getattr(lstm, "weight_hh_l0" + suffix).detach().numpy()  # (4H, H)
    b = getattr(lstm, "bias_ih_l0" + suffix) + getattr(lstm, "bias_hh_l0" + suffix)
    return [w_ih.T, w_hh.T, b.detach().numpy()]  # kernel (in, 4H), recurrent (H, 4H), bias (4H)


def export_tfjs(model, out_dir):
    layers = [
        {
            "class_name": "InputLayer",
            "config": {
                "batch_input_shape": [None, None, D],
                "dtype": "float32",
                "sparse": False,
                "name": "bilstm_1_input",
            },
        }
    ]
    weights = []  # (name, array) in file order
    for k, lstm in ((1, model.bi1), (2, model.bi2)):
        name, inner = f"bilstm_{k}", f"lstm_{k}"
        layers.append(
            {
                "class_name": "Bidirectional",
                "config": {
                    "name": name,
                    "trainable": True,
                    "merge_mode": "concat",
                    "layer": {"class_name": "LSTM", "config": lstm_config(inner, HIDDEN)},
                },
            }
        )
        for direction, suffix in (("forward", ""), ("backward", "_reverse")):
            for leaf, a in zip(("kernel", "recurrent_kernel", "bias"), keras_lstm(lstm, suffix)):
                weights.append((f"{name}/{direction}_{inner}/{leaf}", a))
    layers.append(
        {
            "class_name": "TimeDistributed",
            "config": {
                "name": "td",
                "trainable": True,
                "layer": {
                    "class_name": "Dense",
                    "config": {
                        "name": "dense",
                        "trainable": True,
                        "units": 2,
                        "activation": "softmax",
                        "use_bias": True,
                    },
                },
            },
        }
    )
    weights.append(("td/kernel", model.head.weight.detach().numpy().T))  # (2H, 2)
    weights.append(("td/bias", model.head.bias.detach().numpy()))  # (2,)
    manifest = [
        {"name": n, "shape": list(a.shape), "dtype": "float32"} for n, a in weights
    ]
    topology = {
        "class_name": "Sequential",
        "config": {"name": "demo_rise_ahead_bilstm", "layers": layers},
        # The tfjs-layers 4.x config dialect (Keras 2 semantics); written by this script.
        "keras_version": "tfjs-layers 4.22.0",
        "backend": "tensor_flow.js",
    }
    doc = {
        "format": "layers-model",
        "generatedBy": "tools/demo-model/train.py (PyTorch " + torch.__version__ + ")",
        "convertedBy": None,
        "modelTopology": topology,
        "weightsManifest": [{"paths": ["weights.bin"], "weights": manifest}],
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    with open(os.path.join(out_dir, "weights.bin"), "wb") as f:
        for _, a in weights:
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())


def main():
    torch.manual_seed(2026)
    torch.set_num_threads(1)  # fixed thread count: reproducible float sums
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(2026)
    batch = 32
    train_batches = [generate(rng, batch) for _ in range(96)]  # 3072 sequences
    val_batches = [generate(rng, batch) for _ in range(16)]  # 512 sequences
    steps = sum(y.size for _, y in train_batches)
    positive = sum(int(y.sum()) for _, y in train_batches) / steps
    print(f"train: {steps} steps, {positive:.1%} positive (majority-class accuracy"
          f" {max(positive, 1 - positive):.4f})", flush=True)

    epochs = int(os.environ.get("EPOCHS", "12"))
    bi = BiTagger()
    bi_acc = train(bi, train_batches, val_batches, epochs, "bidirectional")
    causal = CausalTagger()
    causal_acc = train(causal, train_batches, val_batches, epochs, "causal")

    probe_x, probe_labels = generate(np.random.default_rng(7), 8, length=120)
    with torch.no_grad():
        probe_y = torch.softmax(bi(torch.from_numpy(probe_x)), -1).numpy()
        causal_probe = causal(torch.from_numpy(probe_x)).argmax(-1).numpy()
    metrics = {
        "task": "label[t] = max(x0[t+1..t+8]) - x0[t] > 0.5",
        "train_steps_positive_fraction": round(positive, 4),
        "bidirectional": {"train_accuracy": round(bi_acc[0], 4), "val_accuracy": round(bi_acc[1], 4),
                          "probe_accuracy": round(float((probe_y.argmax(-1) == probe_labels).mean()), 4)},
        "causal_baseline": {"train_accuracy": round(causal_acc[0], 4),
                            "val_accuracy": round(causal_acc[1], 4),
                            "probe_accuracy": round(float((causal_probe == probe_labels).mean()), 4)},
        "epochs": epochs,
    }
    print(json.dumps(metrics, indent=1))

    export_tfjs(bi, MODEL_DIR)
    os.makedirs(TEST_DIR, exist_ok=True)
    np.save(os.path.join(TEST_DIR, "probe_x.npy"), probe_x)
    np.save(os.path.join(TEST_DIR, "probe_y.npy"), probe_y.astype(np.float32))
    np.save(os.path.join(TEST_DIR, "probe_labels.npy"), probe_labels.astype(np.int32))
    with open(os.path.join(TEST_DIR, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
        f.write("\n")
    print("wrote", MODEL_DIR, "and", TEST_DIR)


if __name__ == "__main__":
    sys.exit(main())
