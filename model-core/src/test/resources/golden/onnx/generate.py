#!/usr/bin/python3
"""ONNX golden cases: PyTorch recurrent models exported with torch.onnx.export.

Run from this folder with Debian's PyTorch:  /usr/bin/python3 generate.py

Per case a folder <name>/ with
  model.onnx   torch.onnx.export output (opset 14 unless the case says `opset`; some cases
               without constant folding, `constant_folding: false`), or an export edited with
               the onnx API where PyTorch never writes the feature (layout=1, direction=reverse)
  x.npy        the sequence input in BiStream's convention [N, T, D] (float32), whatever the
               layout of the ONNX graph input: seq-first exports are fed x.transpose(0, 1); an
               [N, T] input (one feature, or token ids) is stored as [N, T, 1]
  h0.npy/c0.npy  initial states exactly as the ONNX graph input takes them
               [num_layers * num_directions, N, H]
  y.npy        PyTorch's output in BiStream's convention [N, T, F] (a squeezed last axis
               restored: [N, T, 1] or [N, 1])
  case.json    name, description, input/output files, tolerances
Expected values come only from PyTorch (torch.nn modules, or for an ONNX-only feature an
explicit torch step loop that is first checked against the torch module).

The `one_core` case is also written as a TF.js layers model (keras/model.json + weights.bin,
weights mapped from the same PyTorch module), so both files must give the same outputs.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import torch

HERE = Path(__file__).resolve().parent
torch.set_num_threads(1)
RTOL, ATOL = 1e-5, 1e-6


def save(name, description, module, xs, state_names=(), seq_first=False, edit=None,
         expected=None, last_step=False, dynamic=True, opset=14, fold=True):
    """Exports `module` called on xs, runs it with PyTorch and writes the case folder."""
    out = HERE / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()
    module.eval()
    names = ["x", *state_names]
    dyn = {"x": {0: "t" if seq_first else "n", 1: "n" if seq_first else "t"},
           "y": {0: "n"} if last_step else {0: "d0", 1: "d1"}}
    for s in state_names:
        dyn[s] = {1: "n"}
    path = out / "model.onnx"
    torch.onnx.export(module, tuple(xs), str(path), input_names=names, output_names=["y"],
                      dynamic_axes=dyn if dynamic else None, opset_version=opset,
                      do_constant_folding=fold)
    if edit is not None:
        m = onnx.load(str(path))
        edit(m)
        onnx.checker.check_model(m)
        onnx.save(m, str(path))
    with torch.no_grad():
        y = module(*xs) if expected is None else expected
    x = xs[0].transpose(0, 1) if seq_first else xs[0]
    x = x.unsqueeze(-1) if x.dim() == 2 else x  # an [N, T] input is BiStream's [N, T, 1]
    y = y.transpose(0, 1) if seq_first and not last_step else y
    y = y.unsqueeze(-1) if y.dim() == (1 if last_step else 2) else y  # a squeezed last axis
    np.save(out / "x.npy", np.ascontiguousarray(x.numpy().astype(np.float32)))  # ids as floats
    for s, v in zip(state_names, xs[1:]):
        np.save(out / (s + ".npy"), v.numpy().astype(np.float32))
    np.save(out / "y.npy", np.ascontiguousarray(y.numpy().astype(np.float32)))
    case = {"name": name, "description": description, "source": "pytorch " + torch.__version__
            + " / onnx " + onnx.__version__, "model": "model.onnx",
            "torch_layout": "seq_first" if seq_first else "batch_first",
            "inputs": ["x.npy"] + [s + ".npy" for s in state_names], "outputs": ["y.npy"],
            "rtol": RTOL, "atol": ATOL}
    if opset != 14:
        case["opset"] = opset
    if not fold:
        case["constant_folding"] = False
    (out / "case.json").write_text(json.dumps(case, indent=1) + "\n")
    print(name, "x", tuple(x.shape), "y", tuple(y.shape))


class Head(torch.nn.Module):
    """A recurrent module, then an optional Linear and an optional activation."""

    def __init__(self, rnn, linear=None, act=None):
        super().__init__()
        self.rnn, self.fc, self.act = rnn, linear, act

    def forward(self, x, *states):
        y = self.rnn(x, *([states] if len(states) > 1 else states))[0]
        if self.fc is not None:
            y = self.fc(y)
        return y if self.act is None else self.act(y)


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def bilstm_gru_softmax():
    torch.manual_seed(1)
    return torch.nn.ModuleDict({"lstm": torch.nn.LSTM(3, 5, bidirectional=True, batch_first=True),
                                "gru": torch.nn.GRU(10, 4, bidirectional=True, batch_first=True),
                                "fc": torch.nn.Linear(8, 3)})


class OneCore(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.m = bilstm_gru_softmax()

    def forward(self, x):
        y = self.m["gru"](self.m["lstm"](x)[0])[0]
        return torch.softmax(self.m["fc"](y), -1)


def t(a):
    return a.detach().numpy().astype(np.float32)


def write_tfjs(module, folder):
    """The OneCore module as a TF.js layers Sequential model (Keras 2 layout, gate order mapped)."""
    folder.mkdir()
    weights, blobs = [], []

    def add(name, arr):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        weights.append({"name": name, "shape": list(arr.shape), "dtype": "float32"})
        blobs.append(arr.tobytes())

    lstm, gru, fc = module.m["lstm"], module.m["gru"], module.m["fc"]
    for d, sfx in (("forward", ""), ("backward", "_reverse")):
        w_ih, w_hh = getattr(lstm, "weight_ih_l0" + sfx), getattr(lstm, "weight_hh_l0" + sfx)
        b = getattr(lstm, "bias_ih_l0" + sfx) + getattr(lstm, "bias_hh_l0" + sfx)
        # torch LSTM rows (i, f, g, o) = Keras columns (i, f, c, o)
        add(f"bi_lstm/{d}_lstm/kernel", t(w_ih).T)
        add(f"bi_lstm/{d}_lstm/recurrent_kernel", t(w_hh).T)
        add(f"bi_lstm/{d}_lstm/bias", t(b))
    for d, sfx in (("forward", ""), ("backward", "_reverse")):
        h = gru.hidden_size
        def zrh(a):  # torch rows (r, z, n) -> Keras (z, r, h)
            a = t(a)
            return np.concatenate([a[h:2 * h], a[:h], a[2 * h:]], axis=0)
        add(f"bi_gru/{d}_gru/kernel", zrh(getattr(gru, "weight_ih_l0" + sfx)).T)
        add(f"bi_gru/{d}_gru/recurrent_kernel", zrh(getattr(gru, "weight_hh_l0" + sfx)).T)
        add(f"bi_gru/{d}_gru/bias", np.stack([zrh(getattr(gru, "bias_ih_l0" + sfx)),
                                             zrh(getattr(gru, "bias_hh_l0" + sfx))]))
    add("td/kernel", t(fc.weight).T)
    add("td/bias", t(fc.bias))

    def rnn(cls, name, units, **extra):
        return {"class_name": cls, "config": {"name": name, "units": units, "activation": "tanh",
                "recurrent_activation": "sigmoid", "use_bias": True, "return_sequences": True,
                "return_state": False, "go_backwards": False, "stateful": False, **extra}}

    layers = [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, None, 3],
                                                "dtype": "float32", "name": "x"}},
        {"class_name": "Bidirectional", "config": {"name": "bi_lstm", "merge_mode": "concat",
                                                   "layer": rnn("LSTM", "lstm", 5)}},
        {"class_name": "Bidirectional", "config": {"name": "bi_gru", "merge_mode": "concat",
                                                   "layer": rnn("GRU", "gru", 4, reset_after=True)}},
        {"class_name": "TimeDistributed", "config": {"name": "td", "layer": {
            "class_name": "Dense", "config": {"name": "dense", "units": 3,
                                              "activation": "softmax", "use_bias": True}}}},
    ]
    model = {"format": "layers-model", "generatedBy": "bistream golden/onnx/generate.py",
             "modelTopology": {"class_name": "Sequential", "config": {"name": "one_core",
                                                                      "layers": layers},
                               "keras_version": "tfjs-layers 4.22.0"},
             "weightsManifest": [{"paths": ["weights.bin"], "weights": weights}]}
    (folder / "model.json").write_text(json.dumps(model, indent=1) + "\n")
    (folder / "weights.bin").write_bytes(b"".join(blobs))


def to_layout1(m):
    """Edits a batch_first single-LSTM export to ONNX layout=1: the LSTM reads [N, T, D] and
    writes [N, T, dirs, H], so PyTorch's Transposes around it go away."""
    g = m.graph
    nodes = list(g.node)
    rnn = next(n for n in nodes if n.op_type in ("LSTM", "GRU", "RNN"))
    tin = next(n for n in nodes if n.output[0] == rnn.input[0])
    rnn.input[0] = tin.input[0]
    del rnn.input[5:]  # PyTorch's zero states are [dirs, N, H]; layout 1 wants them absent
    rnn.attribute.append(onnx.helper.make_attribute("layout", 1))
    t1 = next(n for n in nodes if n.op_type == "Transpose" and n.input[0] == rnn.output[0])
    reshape = next(n for n in nodes if n.op_type == "Reshape" and n.input[0] == t1.output[0])
    reshape.input[0] = rnn.output[0]
    t2 = next(n for n in nodes if n.op_type == "Transpose" and n.input[0] == reshape.output[0])
    for n in nodes:
        for i, v in enumerate(n.input):
            if v == t2.output[0]:
                n.input[i] = reshape.output[0]
    for n in (tin, t1, t2):
        g.node.remove(n)
    # Drop the now unused zero-state plumbing.
    used = {v for n in g.node for v in n.input} | {o.name for o in g.output}
    changed = True
    while changed:
        changed = False
        for n in list(g.node):
            if not any(o in used for o in n.output):
                g.node.remove(n)
                changed = True
        used = {v for n in g.node for v in n.input} | {o.name for o in g.output}


class LastState(torch.nn.Module):
    """PyTorch's sequence classifier: a head on the final hidden state h_n, as users write it."""

    def __init__(self, rnn, linear, act, both_directions):
        super().__init__()
        self.rnn, self.fc, self.act, self.both = rnn, linear, act, both_directions

    def forward(self, x):
        h = self.rnn(x)[1]
        h = h[0] if isinstance(h, tuple) else h
        h = torch.cat((h[-2], h[-1]), 1) if self.both else h[-1]
        return self.act(self.fc(h))


class LastStep(torch.nn.Module):
    """A head on the last time step of the sequence output: fc(y[:, -1, :])."""

    def __init__(self, rnn, linear):
        super().__init__()
        self.rnn, self.fc = rnn, linear

    def forward(self, x):
        return self.fc(self.rnn(x)[0][:, -1, :])


class FirstStep(torch.nn.Module):
    """A head on the first time step of the sequence output: fc(y[:, 0, :])."""

    def __init__(self, rnn, linear):
        super().__init__()
        self.rnn, self.fc = rnn, linear

    def forward(self, x):
        return self.fc(self.rnn(x)[0][:, 0, :])


class PerStepThenLast(torch.nn.Module):
    """A per-step head whose last step is the output: fc(y)[:, -1]."""

    def __init__(self, rnn, linear):
        super().__init__()
        self.rnn, self.fc = rnn, linear

    def forward(self, x):
        return self.fc(self.rnn(x)[0])[:, -1]


class NormalisedInput(torch.nn.Module):
    """LayerNorm over each input step before the recurrent layer."""

    def __init__(self, rnn, linear):
        super().__init__()
        self.norm, self.rnn, self.fc = torch.nn.LayerNorm(rnn.input_size), rnn, linear
        with torch.no_grad():
            torch.nn.init.uniform_(self.norm.weight, 0.5, 1.5)
            torch.nn.init.uniform_(self.norm.bias, -0.5, 0.5)

    def forward(self, x):
        return self.fc(self.rnn(self.norm(x))[0])


class NormHead(torch.nn.Module):
    """The common BiLSTM/BiGRU regressor: the sequence output (its last step y[:, -1] when
    `last`), LayerNorm, GELU, Linear."""

    def __init__(self, rnn, width, out, last, approximate="none"):
        super().__init__()
        self.rnn, self.last = rnn, last
        self.norm = torch.nn.LayerNorm(width)
        self.act = torch.nn.GELU(approximate=approximate)
        self.fc = torch.nn.Linear(width, out)

    def forward(self, x):
        y = self.rnn(x)[0]
        return self.fc(self.act(self.norm(y[:, -1] if self.last else y)))


class StateHead(torch.nn.Module):
    """A head on the final hidden state h_n [layers * dirs, N, H], taken the ways users write it."""

    def __init__(self, rnn, linear, how):
        super().__init__()
        self.rnn, self.fc, self.how = rnn, linear, how

    def forward(self, x):
        h = self.rnn(x)[1]
        h = h[0] if isinstance(h, tuple) else h
        n = x.shape[0] if self.rnn.batch_first else x.shape[1]
        if self.how == "squeeze":
            h = h.squeeze(0)
        elif self.how == "index0":
            h = h[0]
        elif self.how == "last":
            h = h[-1]
        elif self.how == "view":
            h = h.view(n, -1)
        elif self.how == "reshape":
            h = h.reshape(-1, self.rnn.hidden_size)
        elif self.how == "cat":
            h = torch.cat((h[-2], h[-1]), 1)
        elif self.how == "permute":
            h = h.permute(1, 0, 2).reshape(n, -1)
        elif self.how == "sum":
            h = h[-2] + h[-1]
        elif self.how == "view_layers":
            layers, dirs = self.rnn.num_layers, 2 if self.rnn.bidirectional else 1
            h = h.view(layers, dirs, n, self.rnn.hidden_size)[-1]
            h = torch.cat((h[0], h[1]), 1) if dirs == 2 else h[0]
        else:
            raise ValueError(self.how)
        return self.fc(h)


class Univariate(torch.nn.Module):
    """Takes the series as [N, T] (or [T, N]) and adds the feature axis itself, as forecasters
    often do: x.unsqueeze(-1) or x.view(a, b, 1)."""

    def __init__(self, rnn, linear, how):
        super().__init__()
        self.rnn, self.fc, self.how = rnn, linear, how

    def forward(self, x):
        x = x.unsqueeze(-1) if self.how == "unsqueeze" else x.view(x.shape[0], x.shape[1], 1)
        return self.fc(self.rnn(x)[0])


class SqueezedForecast(torch.nn.Module):
    """One value per step or per sequence, the last axis squeezed: fc(y).squeeze(-1) or
    fc(h_n[-1]).squeeze(-1), as single-output forecasters return it."""

    def __init__(self, rnn, linear, per_step):
        super().__init__()
        self.rnn, self.fc, self.per_step = rnn, linear, per_step

    def forward(self, x):
        y, h = self.rnn(x)
        h = h[0] if isinstance(h, tuple) else h
        return self.fc(y if self.per_step else h[-1]).squeeze(-1)


class Normalised(torch.nn.Module):
    """Standardises its input inside the graph, (x - mean) / std with per-feature buffers, and
    de-standardises its output, y * scale + offset, as deployed forecasters often do."""

    def __init__(self, rnn, linear):
        super().__init__()
        self.rnn, self.fc = rnn, linear
        self.register_buffer("mean", torch.tensor([0.5, -1.0, 2.0]))
        self.register_buffer("std", torch.tensor([2.0, 0.5, 3.0]))

    def forward(self, x):
        y = self.fc(self.rnn((x - self.mean) / self.std)[0])
        return 10.0 - y * 4.0


class InputProjection(torch.nn.Module):
    """A Linear on the input features before the recurrent layer."""

    def __init__(self, proj, rnn, linear):
        super().__init__()
        self.proj, self.rnn, self.fc = proj, rnn, linear

    def forward(self, x):
        return self.fc(self.rnn(torch.relu(self.proj(x)))[0])


class EmbeddingHead(torch.nn.Module):
    """Token ids -> nn.Embedding -> recurrent -> Linear (torch exports the lookup as Gather)."""

    def __init__(self, embedding, rnn, linear):
        super().__init__()
        self.embedding, self.rnn, self.fc = embedding, rnn, linear

    def forward(self, ids):
        return self.fc(self.rnn(self.embedding(ids))[0])


class Packed(torch.nn.Module):
    """pack_padded_sequence with a lengths input: variable-length batches."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x, lengths):
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                         enforce_sorted=False)
        return self.rnn(packed)[1][0][-1]


class CellStateHead(torch.nn.Module):
    """Uses the LSTM's final cell state c_n: as a second graph output, or under a Linear."""

    def __init__(self, rnn, linear, as_output):
        super().__init__()
        self.rnn, self.fc, self.as_output = rnn, linear, as_output

    def forward(self, x):
        y, (h, c) = self.rnn(x)
        return (self.fc(y), c) if self.as_output else self.fc(c[-1])


class ConvFront(torch.nn.Module):
    """A Conv1d feature extractor in front of an LSTM (a common forecaster; Conv is unsupported)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(3, 4, 3, padding=1)
        self.rnn = torch.nn.LSTM(4, 5, batch_first=True)
        self.fc = torch.nn.Linear(5, 1)

    def forward(self, x):
        z = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return self.fc(self.rnn(z)[0])


def gru_loop(x, gru, linear_before_reset, gate, clip=float("inf")):
    """The GRU equations step by step with torch ops (batch_first x, torch gate rows r, z, n).

    linear_before_reset=1 is torch.nn.GRU; =0 is the ONNX/Keras-1 variant where the reset gate
    multiplies h before the recurrent matmul: n = tanh(x W_in + b_in + (r * h) W_hn + b_hn).
    """
    w_ih, w_hh, b_ih, b_hh = gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0
    hs = gru.hidden_size
    h = torch.zeros(x.shape[0], hs)
    out = []
    for step in range(x.shape[1]):
        gi = x[:, step] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        r = gate(torch.clamp(gi[:, :hs] + gh[:, :hs], -clip, clip))
        z = gate(torch.clamp(gi[:, hs:2 * hs] + gh[:, hs:2 * hs], -clip, clip))
        if linear_before_reset:
            n = torch.tanh(torch.clamp(gi[:, 2 * hs:] + r * gh[:, 2 * hs:], -clip, clip))
        else:
            n = torch.tanh(torch.clamp(gi[:, 2 * hs:] + (r * h) @ w_hh[2 * hs:].T + b_hh[2 * hs:],
                                       -clip, clip))
        h = (1 - z) * n + z * h
        out.append(h)
    return torch.stack(out, 1)


def lstm_loop(x, lstm, suffix="", clip=float("inf")):
    """One LSTM direction step by step with torch ops (batch_first x, torch rows i, f, g, o).

    ONNX clip as onnxruntime applies it: each gate's whole pre-activation (all terms and both
    biases) is clamped to [-clip, clip] before its activation; the cell state is not clipped.
    """
    w_ih, w_hh = getattr(lstm, "weight_ih_l0" + suffix), getattr(lstm, "weight_hh_l0" + suffix)
    b = getattr(lstm, "bias_ih_l0" + suffix) + getattr(lstm, "bias_hh_l0" + suffix)
    hs = lstm.hidden_size
    h = torch.zeros(x.shape[0], hs)
    c = torch.zeros(x.shape[0], hs)
    out = []
    for step in range(x.shape[1]):
        z = torch.clamp(x[:, step] @ w_ih.T + h @ w_hh.T + b, -clip, clip)
        i, f = torch.sigmoid(z[:, :hs]), torch.sigmoid(z[:, hs:2 * hs])
        g, o = torch.tanh(z[:, 2 * hs:3 * hs]), torch.sigmoid(z[:, 3 * hs:])
        c = f * c + i * g
        h = o * torch.tanh(c)
        out.append(h)
    return torch.stack(out, 1)


def set_clip(value):
    def edit(m):
        for n in m.graph.node:
            if n.op_type in ("LSTM", "GRU", "RNN"):
                n.attribute.append(onnx.helper.make_attribute("clip", value))
    return edit


def clipped_fraction(pre, clip):
    return float((pre.abs() > clip).float().mean())


def onnx_hard_sigmoid(v):
    """ONNX HardSigmoid with its default alpha=0.2, beta=0.5 (not torch's hardsigmoid, x/6+0.5)."""
    return torch.clamp(0.2 * v + 0.5, 0.0, 1.0)


def to_gru_lbr0_hard_sigmoid(m):
    """Edits a GRU export to linear_before_reset=0 with activations [HardSigmoid, Tanh]."""
    for n in m.graph.node:
        if n.op_type == "GRU":
            for a in n.attribute:
                if a.name == "linear_before_reset":
                    a.i = 0
            n.attribute.append(onnx.helper.make_attribute("activations", ["HardSigmoid", "Tanh"]))


def to_reverse(m):
    """Edits a unidirectional export to direction=reverse (PyTorch never writes it)."""
    for n in m.graph.node:
        if n.op_type in ("LSTM", "GRU", "RNN"):
            n.attribute.append(onnx.helper.make_attribute("direction", "reverse"))


def main():
    # 1. Bidirectional LSTM, batch_first, 500 steps, Linear + softmax.
    torch.manual_seed(10)
    mod = Head(torch.nn.LSTM(3, 5, bidirectional=True, batch_first=True),
               torch.nn.Linear(10, 4), torch.nn.Softmax(-1))
    save("bilstm_batch_first_softmax_t500", "nn.LSTM(3, 5, bidirectional, batch_first) ->"
         " Linear(10, 4) -> softmax, 500 steps", mod, [randn(2, 500, 3)])
    # 2. Two-layer bidirectional GRU, seq-first, Linear + sigmoid.
    torch.manual_seed(11)
    mod = Head(torch.nn.GRU(3, 4, num_layers=2, bidirectional=True),
               torch.nn.Linear(8, 2), torch.nn.Sigmoid())
    save("bigru_2layer_seq_first_sigmoid", "nn.GRU(3, 4, num_layers=2, bidirectional),"
         " seq-first -> Linear(8, 2) -> sigmoid", mod, [randn(37, 3, 3)], seq_first=True)
    # 3. Two-layer unidirectional tanh RNN, batch_first, Linear + log_softmax.
    torch.manual_seed(12)
    mod = Head(torch.nn.RNN(3, 6, num_layers=2, batch_first=True),
               torch.nn.Linear(6, 3), torch.nn.LogSoftmax(-1))
    save("rnn_tanh_2layer_log_softmax", "nn.RNN(3, 6, num_layers=2, tanh, batch_first) ->"
         " Linear(6, 3) -> log_softmax", mod, [randn(2, 50, 3)])
    # 4. Bidirectional relu RNN, seq-first, two layers, initial state as an input.
    torch.manual_seed(13)
    mod = Head(torch.nn.RNN(3, 4, num_layers=2, nonlinearity="relu", bidirectional=True),
               torch.nn.Linear(8, 3))
    save("birnn_relu_2layer_h0_seq_first", "nn.RNN(3, 4, num_layers=2, relu, bidirectional),"
         " seq-first, h0 input -> Linear(8, 3)", mod, [randn(20, 2, 3), randn(4, 2, 4) * 0.5],
         state_names=("h0",), seq_first=True)
    # 5. Unidirectional two-layer LSTM with (h0, c0) inputs, no head.
    torch.manual_seed(14)
    mod = Head(torch.nn.LSTM(2, 5, num_layers=2, batch_first=True))
    save("lstm_2layer_initial_states", "nn.LSTM(2, 5, num_layers=2, batch_first),"
         " (h0, c0) inputs", mod, [randn(3, 30, 2), randn(2, 3, 5), randn(2, 3, 5)],
         state_names=("h0", "c0"))
    # 6. Bidirectional GRU with h0 input, Linear + tanh head (batch_first).
    torch.manual_seed(15)
    mod = Head(torch.nn.GRU(4, 3, bidirectional=True, batch_first=True),
               torch.nn.Linear(6, 2), torch.nn.Tanh())
    save("bigru_h0_tanh", "nn.GRU(4, 3, bidirectional, batch_first), h0 input -> Linear(6, 2)"
         " -> tanh", mod, [randn(2, 25, 4), randn(2, 2, 3)], state_names=("h0",))
    # 7. layout=1 bidirectional LSTM (edited export; numbers are PyTorch's).
    torch.manual_seed(16)
    mod = Head(torch.nn.LSTM(3, 4, bidirectional=True, batch_first=True),
               torch.nn.Linear(8, 2), torch.nn.ReLU())
    save("bilstm_layout1_relu", "nn.LSTM(3, 4, bidirectional) exported then edited to ONNX"
         " layout=1 (no Transposes, absent states) -> Linear(8, 2) -> relu", mod,
         [randn(2, 12, 3)], edit=to_layout1)
    # 8. direction=reverse GRU (edited export): PyTorch GRU on the time-reversed input.
    torch.manual_seed(17)
    mod = Head(torch.nn.GRU(3, 4, batch_first=True))
    x = randn(2, 15, 3)
    with torch.no_grad():
        y = mod(x.flip(1)).flip(1)
    save("gru_reverse", "nn.GRU(3, 4) exported then edited to direction=reverse; expected ="
         " PyTorch GRU over the reversed sequence, re-reversed", mod, [x], edit=to_reverse,
         expected=y)
    # 10. Sequence classification from h_n of a two-layer GRU: Gather(-1) -> Gemm -> sigmoid.
    torch.manual_seed(19)
    mod = LastState(torch.nn.GRU(3, 5, num_layers=2, batch_first=True), torch.nn.Linear(5, 2),
                    torch.nn.Sigmoid(), both_directions=False)
    save("gru_2layer_last_state_gemm_sigmoid", "nn.GRU(3, 5, num_layers=2), fc(h_n[-1]) ->"
         " sigmoid: [N, F] output", mod, [randn(3, 33, 3)], last_step=True)
    # 11. Bidirectional LSTM classifier: cat(h_n[-2], h_n[-1]) -> Gemm -> softmax.
    torch.manual_seed(20)
    mod = LastState(torch.nn.LSTM(4, 3, bidirectional=True, batch_first=True),
                    torch.nn.Linear(6, 3), torch.nn.Softmax(-1), both_directions=True)
    save("bilstm_last_state_concat_softmax", "nn.LSTM(4, 3, bidirectional), fc(cat(h_n[-2],"
         " h_n[-1])) -> softmax: [N, F] output", mod, [randn(2, 21, 4)], last_step=True)
    # 12. GRU linear_before_reset=0 with HardSigmoid gates (edited export): explicit torch loop,
    #     checked first against nn.GRU in its own formulation.
    torch.manual_seed(21)
    mod = Head(torch.nn.GRU(3, 4, batch_first=True))
    with torch.no_grad():
        torch.nn.init.uniform_(mod.rnn.bias_hh_l0, -0.5, 0.5)  # a clearly nonzero Rb_h
        x = randn(2, 18, 3)
        check = (gru_loop(x, mod.rnn, True, torch.sigmoid) - mod(x)).abs().max().item()
        assert check < 1e-6, check
        y = gru_loop(x, mod.rnn, False, onnx_hard_sigmoid)
    print("  gru loop vs nn.GRU:", check)
    save("gru_lbr0_hard_sigmoid", "nn.GRU(3, 4) exported then edited to linear_before_reset=0,"
         " activations [HardSigmoid, Tanh]; expected = explicit torch GRU loop (checked against"
         " nn.GRU)", mod, [x], edit=to_gru_lbr0_hard_sigmoid, expected=y)
    # 13. Static shapes (no dynamic_axes): PyTorch folds the zero states into Constant + Expand.
    #     Two-layer LSTM, y[:, -1, :] (the last step of a forward output) -> Linear.
    torch.manual_seed(22)
    mod = LastStep(torch.nn.LSTM(3, 4, num_layers=2, batch_first=True), torch.nn.Linear(4, 2))
    save("lstm_2layer_static_last_step", "nn.LSTM(3, 4, num_layers=2) exported without"
         " dynamic_axes (static [2, 9, 3]), fc(y[:, -1, :]); x_other/y_other: the same module on"
         " [3, 17, 3], which the importer must accept too", mod, [randn(2, 9, 3)],
         last_step=True, dynamic=False)
    with torch.no_grad():
        x = randn(3, 17, 3)
        np.save(HERE / "lstm_2layer_static_last_step" / "x_other.npy", x.numpy())
        np.save(HERE / "lstm_2layer_static_last_step" / "y_other.npy", mod(x).numpy())
    # Error fixture: y[:, 0, :] of a bidirectional output (its forward half after one step):
    # only the last step of a sequence output is a readout BiStream streams.
    torch.manual_seed(23)
    mod = FirstStep(torch.nn.GRU(3, 4, bidirectional=True, batch_first=True),
                    torch.nn.Linear(8, 2))
    errors = HERE / "errors"
    errors.mkdir(exist_ok=True)
    torch.onnx.export(mod, (randn(2, 5, 3),), str(errors / "bigru_gather_first_step.onnx"),
                      input_names=["x"], output_names=["y"], opset_version=14)
    # proj_size: PyTorch 1.13 cannot export it ("LSTMs with projections"), so no case.
    try:
        torch.onnx.export(Head(torch.nn.LSTM(3, 4, proj_size=2, batch_first=True)),
                          (randn(1, 3, 3),), str(errors / "proj.onnx"))
        raise AssertionError("proj_size exported; add a golden case for it")
    except torch.onnx.errors.SymbolicValueError as e:
        assert "LSTMs with projections" in str(e)
        print("proj_size: not exportable by torch", torch.__version__)
    # 14. clip (no PyTorch module writes it; edited export): bidirectional LSTM, clip=0.5.
    #     Expected = explicit torch loops with onnxruntime's clip semantics, the loop first
    #     checked against nn.LSTM without clipping.
    torch.manual_seed(24)
    mod = Head(torch.nn.LSTM(3, 4, bidirectional=True, batch_first=True))
    with torch.no_grad():
        x = randn(2, 16, 3) * 2
        free = torch.cat([lstm_loop(x, mod.rnn), lstm_loop(x.flip(1), mod.rnn, "_reverse").flip(1)], 2)
        check = (free - mod(x)).abs().max().item()
        assert check < 1e-6, check
        y = torch.cat([lstm_loop(x, mod.rnn, clip=0.5),
                       lstm_loop(x.flip(1), mod.rnn, "_reverse", clip=0.5).flip(1)], 2)
        pre = x @ mod.rnn.weight_ih_l0.T + mod.rnn.bias_ih_l0 + mod.rnn.bias_hh_l0
        print("  lstm loop vs nn.LSTM:", check, " clipped share of input terms:",
              clipped_fraction(pre, 0.5))
    save("bilstm_clip", "nn.LSTM(3, 4, bidirectional) exported then edited to clip=0.5;"
         " expected = explicit torch loops clamping every gate pre-activation (onnxruntime"
         " semantics), checked against nn.LSTM unclipped", mod, [x], edit=set_clip(0.5),
         expected=y)
    # 15. clip on a GRU (linear_before_reset=1), 0.7.
    torch.manual_seed(25)
    mod = Head(torch.nn.GRU(3, 4, batch_first=True))
    with torch.no_grad():
        x = randn(2, 16, 3) * 2
        y = gru_loop(x, mod.rnn, True, torch.sigmoid, clip=0.7)
    save("gru_clip", "nn.GRU(3, 4) exported then edited to clip=0.7; expected = explicit torch"
         " GRU loop clamping each activation input (onnxruntime semantics)", mod, [x],
         edit=set_clip(0.7), expected=y)
    # 9. One model core: the same module as ONNX and as a TF.js layers model.
    torch.manual_seed(18)
    mod = OneCore()
    save("one_core_bilstm_bigru_softmax", "Bidirectional LSTM(5) -> Bidirectional GRU(4) ->"
         " Linear(8, 3) -> softmax; also written as keras/model.json (TF.js layers)", mod,
         [randn(2, 40, 3)])
    write_tfjs(mod, HERE / "one_core_bilstm_bigru_softmax" / "keras")
    single_feature_cases()
    no_constant_folding_cases()
    final_state_cases()
    error_cases()


def single_feature_cases():
    """One input feature: a univariate series, the most common streaming input."""
    torch.manual_seed(30)
    mod = Head(torch.nn.LSTM(1, 8, batch_first=True), torch.nn.Linear(8, 1))
    save("lstm_1feature_batch_first_forecast", "nn.LSTM(1, 8, batch_first) -> Linear(8, 1):"
         " a univariate forecaster, dynamic N and T", mod, [randn(3, 24, 1)])
    torch.manual_seed(31)
    mod = Head(torch.nn.LSTM(1, 6), torch.nn.Linear(6, 1))
    save("lstm_1feature_seq_first_fixed_t", "nn.LSTM(1, 6), seq-first, exported without"
         " dynamic_axes (fixed T = 16, N = 2) -> Linear(6, 1)", mod, [randn(16, 2, 1)],
         seq_first=True, dynamic=False)
    torch.manual_seed(32)
    mod = LastState(torch.nn.GRU(1, 5, bidirectional=True, batch_first=True),
                    torch.nn.Linear(10, 1), torch.nn.Sigmoid(), both_directions=True)
    save("bigru_1feature_last_state_fixed_t", "nn.GRU(1, 5, bidirectional, batch_first),"
         " fc(cat(h_n[-2], h_n[-1])) -> sigmoid, exported without dynamic_axes (fixed T = 12)",
         mod, [randn(2, 12, 1)], last_step=True, dynamic=False)
    torch.manual_seed(33)
    mod = Head(torch.nn.RNN(1, 4, bidirectional=True), torch.nn.Linear(8, 1))
    save("birnn_1feature_seq_first", "nn.RNN(1, 4, tanh, bidirectional), seq-first, dynamic T"
         " -> Linear(8, 1)", mod, [randn(19, 2, 1)], seq_first=True)
    torch.manual_seed(35)
    mod = Univariate(torch.nn.LSTM(1, 5, batch_first=True), torch.nn.Linear(5, 1), "unsqueeze")
    save("lstm_1feature_rank2_input_unsqueeze", "input [N, T], x.unsqueeze(-1) ->"
         " nn.LSTM(1, 5, batch_first) -> Linear(5, 1); x.npy is [N, T, 1]", mod,
         [randn(3, 20)])
    torch.manual_seed(36)
    mod = Univariate(torch.nn.GRU(1, 4, bidirectional=True), torch.nn.Linear(8, 1), "view")
    save("bigru_1feature_rank2_input_view_seq_first", "input [T, N], x.view(T, N, 1) ->"
         " nn.GRU(1, 4, bidirectional), seq-first -> Linear(8, 1); x.npy is [N, T, 1]", mod,
         [randn(15, 2)], seq_first=True)
    torch.manual_seed(38)
    mod = SqueezedForecast(torch.nn.GRU(1, 3, batch_first=True), torch.nn.Linear(3, 1), True)
    save("gru_1feature_forecast_squeeze_last_axis", "nn.GRU(1, 3, batch_first) ->"
         " Linear(3, 1) -> squeeze(-1): output [N, T] (y.npy [N, T, 1])", mod, [randn(2, 14, 1)])
    torch.manual_seed(39)
    mod = SqueezedForecast(torch.nn.LSTM(1, 4, batch_first=True), torch.nn.Linear(4, 1), False)
    save("lstm_1feature_last_state_squeeze_last_axis", "nn.LSTM(1, 4, batch_first),"
         " fc(h_n[-1]).squeeze(-1): output [N] (y.npy [N, 1])", mod, [randn(3, 14, 1)],
         last_step=True)
    torch.manual_seed(40)
    mod = Normalised(torch.nn.LSTM(3, 4, batch_first=True), torch.nn.Linear(4, 2))
    save("lstm_standardised_in_graph", "(x - mean) / std -> nn.LSTM(3, 4, batch_first) ->"
         " Linear(4, 2) -> 10 - 4 y: Sub/Div/Mul of run-time tensors by constants", mod,
         [randn(2, 12, 3) * 3])
    torch.manual_seed(37)
    mod = InputProjection(torch.nn.Linear(3, 6), torch.nn.LSTM(6, 4, batch_first=True),
                          torch.nn.Linear(4, 2))
    save("lstm_input_projection", "Linear(3, 6) -> relu -> nn.LSTM(6, 4, batch_first) ->"
         " Linear(4, 2): a Dense in front of the recurrent layer", mod, [randn(2, 12, 3)])
    torch.manual_seed(34)
    mod = Head(torch.nn.GRU(1, 3, num_layers=2, batch_first=True), torch.nn.Linear(3, 1))
    save("gru_1feature_2layer_fixed_t", "nn.GRU(1, 3, num_layers=2, batch_first), exported"
         " without dynamic_axes (fixed T = 10) -> Linear(3, 1)", mod, [randn(2, 10, 1)],
         dynamic=False)


def no_constant_folding_cases():
    """do_constant_folding=False (torch <= 1.4's default): the gate reordering stays in the graph
    as Slice/Concat/Unsqueeze on the initializers; opset 9 was torch 1.3/1.4's default."""
    torch.manual_seed(40)
    mod = Head(torch.nn.LSTM(3, 4, num_layers=2, batch_first=True), torch.nn.Linear(4, 2))
    save("lstm_2layer_no_constant_folding", "nn.LSTM(3, 4, num_layers=2, batch_first) ->"
         " Linear(4, 2), exported with do_constant_folding=False", mod, [randn(2, 11, 3)],
         fold=False)
    torch.manual_seed(41)
    mod = Head(torch.nn.GRU(3, 4, num_layers=2, bidirectional=True), torch.nn.Linear(8, 2),
               torch.nn.Softmax(-1))
    save("bigru_2layer_no_constant_folding_opset9", "nn.GRU(3, 4, num_layers=2,"
         " bidirectional), seq-first -> Linear(8, 2) -> softmax, exported with opset 9 and"
         " do_constant_folding=False (torch 1.3/1.4 defaults)", mod, [randn(13, 2, 3)],
         seq_first=True, opset=9, fold=False)
    torch.manual_seed(42)
    mod = StateHead(torch.nn.RNN(3, 5, batch_first=True), torch.nn.Linear(5, 2), "last")
    save("rnn_last_state_no_constant_folding", "nn.RNN(3, 5, batch_first), fc(h_n[-1]),"
         " exported with do_constant_folding=False", mod, [randn(3, 9, 3)], last_step=True,
         fold=False)
    torch.manual_seed(43)
    mod = Head(torch.nn.LSTM(1, 4, bidirectional=True, batch_first=True), torch.nn.Linear(8, 1))
    save("bilstm_1feature_no_constant_folding_opset11", "nn.LSTM(1, 4, bidirectional,"
         " batch_first) -> Linear(8, 1), opset 11, do_constant_folding=False", mod,
         [randn(2, 14, 1)], opset=11, fold=False)


def final_state_cases():
    """Every way users take the last layer's final hidden state h_n for a classifier head."""
    torch.manual_seed(50)
    mod = StateHead(torch.nn.LSTM(3, 4, batch_first=True), torch.nn.Linear(4, 2), "squeeze")
    save("lstm_last_state_squeeze", "nn.LSTM(3, 4, batch_first), fc(h_n.squeeze(0))", mod,
         [randn(3, 10, 3)], last_step=True)
    torch.manual_seed(51)
    mod = StateHead(torch.nn.GRU(3, 4), torch.nn.Linear(4, 2), "index0")
    save("gru_last_state_index0_seq_first", "nn.GRU(3, 4), seq-first, fc(h_n[0])", mod,
         [randn(10, 3, 3)], seq_first=True, last_step=True)
    torch.manual_seed(52)
    mod = StateHead(torch.nn.LSTM(3, 4, batch_first=True), torch.nn.Linear(4, 2), "view")
    save("lstm_last_state_view", "nn.LSTM(3, 4, batch_first), fc(h_n.view(N, -1)) with N ="
         " x.shape[0]", mod, [randn(3, 10, 3)], last_step=True)
    torch.manual_seed(53)
    mod = StateHead(torch.nn.RNN(3, 4, batch_first=True), torch.nn.Linear(4, 2), "reshape")
    save("rnn_last_state_reshape", "nn.RNN(3, 4, batch_first), fc(h_n.reshape(-1, 4))", mod,
         [randn(3, 10, 3)], last_step=True)
    torch.manual_seed(54)
    mod = StateHead(torch.nn.GRU(3, 4, bidirectional=True, batch_first=True),
                    torch.nn.Linear(8, 2), "permute")
    save("bigru_last_state_permute_reshape", "nn.GRU(3, 4, bidirectional, batch_first),"
         " fc(h_n.permute(1, 0, 2).reshape(N, -1)) = fc(cat(h_n[-2], h_n[-1]))", mod,
         [randn(3, 10, 3)], last_step=True)
    torch.manual_seed(55)
    mod = StateHead(torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True),
                    torch.nn.Linear(8, 2), "cat")
    save("bilstm_2layer_last_state_cat", "nn.LSTM(3, 4, num_layers=2, bidirectional,"
         " batch_first), fc(cat(h_n[-2], h_n[-1])): the last layer's two directions", mod,
         [randn(3, 10, 3)], last_step=True)
    torch.manual_seed(57)
    mod = StateHead(torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True),
                    torch.nn.Linear(8, 2), "view_layers")
    save("bigru_2layer_last_state_view_layers", "nn.GRU(3, 4, num_layers=2, bidirectional,"
         " batch_first), h = h_n.view(layers, dirs, N, H)[-1]; fc(cat(h[0], h[1]))", mod,
         [randn(3, 10, 3)], last_step=True)
    torch.manual_seed(59)
    mod = StateHead(torch.nn.GRU(3, 4, bidirectional=True, batch_first=True),
                    torch.nn.Linear(4, 2), "sum")
    save("bigru_last_state_sum_directions", "nn.GRU(3, 4, bidirectional, batch_first),"
         " fc(h_n[-2] + h_n[-1]): the directions' final states summed", mod, [randn(3, 10, 3)],
         last_step=True)
    torch.manual_seed(58)
    mod = EmbeddingHead(torch.nn.Embedding(20, 4),
                        torch.nn.LSTM(4, 5, batch_first=True, bidirectional=True),
                        torch.nn.Linear(10, 3))
    save("embedding_bilstm_token_ids", "int64 token ids [N, T] -> nn.Embedding(20, 4) ->"
         " nn.LSTM(4, 5, bidirectional, batch_first) -> Linear(10, 3); x.npy holds the ids as"
         " float32 [N, T, 1]", mod, [torch.randint(0, 20, (3, 11))])
    torch.manual_seed(56)
    mod = StateHead(torch.nn.LSTM(3, 4, batch_first=True), torch.nn.Linear(4, 2), "squeeze")
    save("lstm_last_state_squeeze_static", "nn.LSTM(3, 4, batch_first), fc(h_n.squeeze(0)),"
         " exported without dynamic_axes", mod, [randn(2, 8, 3)], last_step=True,
         dynamic=False)


def readout_cases():
    """y[:, -1, :] of a bidirectional (or stacked) sequence output: step T-1 of [forward,
    backward], whose backward half has seen one step; LayerNorm (decomposed at opset <= 16, one
    LayerNormalization node at 17) and GELU (erf form, tanh approximation) after it."""
    torch.manual_seed(70)
    mod = LastStep(torch.nn.LSTM(3, 5, bidirectional=True, batch_first=True),
                   torch.nn.Linear(10, 2))
    save("bilstm_last_step_linear", "nn.LSTM(3, 5, bidirectional, batch_first), fc(y[:, -1, :]):"
         " forward state at T-1 beside the backward output after one step", mod,
         [randn(3, 11, 3)], last_step=True)
    torch.manual_seed(71)
    mod = NormHead(torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True), 8, 3,
                   True)
    with torch.no_grad():
        torch.nn.init.uniform_(mod.norm.weight, 0.5, 1.5)  # a LayerNorm that is not the identity
        torch.nn.init.uniform_(mod.norm.bias, -0.5, 0.5)
    save("bigru_2layer_last_step_layernorm_gelu", "nn.GRU(3, 4, num_layers=2, bidirectional,"
         " batch_first), y[:, -1] -> LayerNorm(8) (decomposed, opset 14) -> GELU (erf) ->"
         " Linear(8, 3)", mod, [randn(3, 9, 3)], last_step=True)
    torch.manual_seed(72)
    mod = NormHead(torch.nn.LSTM(3, 4, bidirectional=True, batch_first=True), 8, 2, False)
    with torch.no_grad():
        torch.nn.init.uniform_(mod.norm.weight, 0.5, 1.5)
        torch.nn.init.uniform_(mod.norm.bias, -0.5, 0.5)
    save("bilstm_layernorm_op_gelu_per_step_opset17", "nn.LSTM(3, 4, bidirectional,"
         " batch_first) -> LayerNorm(8) (one LayerNormalization node, opset 17) -> GELU (erf) ->"
         " Linear(8, 2), per step", mod, [randn(2, 12, 3)], opset=17)
    torch.manual_seed(74)
    mod = PerStepThenLast(torch.nn.GRU(3, 4, bidirectional=True, batch_first=True),
                          torch.nn.Linear(8, 2))
    save("bigru_per_step_linear_then_last_step", "nn.GRU(3, 4, bidirectional, batch_first),"
         " fc(y)[:, -1]: a per-step head, then its last step", mod, [randn(3, 8, 3)],
         last_step=True)
    torch.manual_seed(76)
    mod = PerStepThenLast(torch.nn.GRU(3, 5, batch_first=True), torch.nn.Linear(5, 2))
    save("gru_per_step_linear_then_last_step", "nn.GRU(3, 5, batch_first), fc(y)[:, -1]: a"
         " unidirectional per-step head, then its last step (streams causally)", mod,
         [randn(3, 8, 3)], last_step=True)
    torch.manual_seed(75)
    mod = NormalisedInput(torch.nn.LSTM(3, 4, bidirectional=True, batch_first=True),
                          torch.nn.Linear(8, 2))
    save("layernorm_input_bilstm", "LayerNorm(3) on the input (decomposed, opset 14) ->"
         " nn.LSTM(3, 4, bidirectional, batch_first) -> Linear(8, 2), per step", mod,
         [randn(2, 7, 3)])
    torch.manual_seed(73)
    mod = NormHead(torch.nn.GRU(3, 4, bidirectional=True, batch_first=True), 8, 2, True, "tanh")
    save("bigru_last_step_layernorm_gelu_tanh", "nn.GRU(3, 4, bidirectional, batch_first),"
         " y[:, -1] -> LayerNorm(8) (decomposed) -> GELU(approximate='tanh') -> Linear(8, 2)",
         mod, [randn(3, 10, 3)], last_step=True)


def export_error(name, module, x, output_names=("y",)):
    torch.onnx.export(module.eval(), (x,), str(HERE / "errors" / name), input_names=["x"],
                      output_names=list(output_names), opset_version=14,
                      dynamic_axes={"x": {0: "n", 1: "t"}})


def error_cases():
    """Files the importer must refuse, each with a message naming the node and what is
    supported (pinned by OnnxImportErrorsTest)."""
    torch.manual_seed(60)
    export_error("conv1d_front.onnx", ConvFront(), randn(2, 9, 3))
    torch.manual_seed(61)
    export_error("lstm_cell_state_output.onnx",
                 CellStateHead(torch.nn.LSTM(3, 4, batch_first=True), torch.nn.Linear(4, 2),
                               True), randn(2, 9, 3), ("y", "c_n"))
    torch.manual_seed(62)
    export_error("lstm_cell_state_head.onnx",
                 CellStateHead(torch.nn.LSTM(3, 4, batch_first=True), torch.nn.Linear(4, 2),
                               False), randn(2, 9, 3))
    torch.manual_seed(64)
    torch.onnx.export(Packed(torch.nn.LSTM(3, 4, batch_first=True)).eval(),
                      (randn(2, 6, 3), torch.tensor([6, 4])),
                      str(HERE / "errors" / "lstm_packed_sequence.onnx"),
                      input_names=["x", "lengths"], output_names=["y"], opset_version=14,
                      dynamic_axes={"x": {0: "n", 1: "t"}, "lengths": {0: "n"}})
    torch.manual_seed(63)
    # h_n.view(N, -1) of a bidirectional h_n [2, N, H] interleaves batch rows and directions
    # (a bug in the user's model whenever N > 1): refused, not misread.
    export_error("bigru_last_state_view_mixes_batch.onnx",
                 StateHead(torch.nn.GRU(3, 4, bidirectional=True, batch_first=True),
                           torch.nn.Linear(8, 2), "view"), randn(2, 9, 3))


if __name__ == "__main__":
    main()
    readout_cases()
