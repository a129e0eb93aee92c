#!/usr/bin/python3
"""Reference outputs for the real ONNX files in this folder, computed without BiStream.

Run from this folder with Debian's PyTorch:  /usr/bin/python3 reference.py

For each real file, the equivalent PyTorch module is built from the file's initializers (read
with the onnx python API) and run on seeded inputs; where the source repository ships its own
reference (e.g. an onnxruntime io.npz), the rebuilt module is first checked against it. Writes per
folder x.npy (BiStream's [N, T, D] convention; token ids as float32 [N, T, 1]), y.npy and
case.json. Refused files get a case.json with the message fragments the importer must print.
"""

import json
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

HERE = Path(__file__).resolve().parent
torch.set_num_threads(1)


def initializers(model):
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def node(model, op, k=0):
    return [n for n in model.graph.node if n.op_type == op][k]


def attr(n, name, default=None):
    for a in n.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


# ONNX gate blocks -> torch gate blocks: LSTM ONNX (i, o, f, c), torch (i, f, g, o);
# GRU ONNX (z, r, h), torch (r, z, n); RNN one block.
TORCH_ORDER = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}


def reorder(a, op, hidden):
    blocks = [a[i * hidden:(i + 1) * hidden] for i in range(len(TORCH_ORDER[op]))]
    return np.concatenate([blocks[i] for i in TORCH_ORDER[op]], axis=0)


def rnn_from_onnx(model, n, batch_first=False):
    """An nn.LSTM/GRU/RNN with the weights of ONNX node n (layout 0, default activations)."""
    w = initializers(model)
    op, hidden = n.op_type, attr(n, "hidden_size")
    direction = attr(n, "direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    assert direction in ("forward", "bidirectional"), direction
    assert attr(n, "linear_before_reset", 1 if op == "GRU" else 0) == (1 if op == "GRU" else 0)
    W, R = w[n.input[1]], w[n.input[2]]
    B = w[n.input[3]] if len(n.input) > 3 and n.input[3] else np.zeros((W.shape[0], 2 * W.shape[1]))
    dirs, gates = W.shape[0], len(TORCH_ORDER[op])
    cls = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN": torch.nn.RNN}[op]
    m = cls(W.shape[2], hidden, bidirectional=dirs == 2, batch_first=batch_first)
    with torch.no_grad():
        for d, sfx in enumerate(["", "_reverse"][:dirs]):
            getattr(m, "weight_ih_l0" + sfx).copy_(torch.from_numpy(reorder(W[d], op, hidden)))
            getattr(m, "weight_hh_l0" + sfx).copy_(torch.from_numpy(reorder(R[d], op, hidden)))
            getattr(m, "bias_ih_l0" + sfx).copy_(
                torch.from_numpy(reorder(B[d][:gates * hidden], op, hidden)))
            getattr(m, "bias_hh_l0" + sfx).copy_(
                torch.from_numpy(reorder(B[d][gates * hidden:], op, hidden)))
    return m.eval()


def write_case(folder, description, x, y, source, tolerances=(1e-5, 1e-6), extra=None):
    np.save(folder / "x.npy", np.ascontiguousarray(x, dtype=np.float32))
    np.save(folder / "y.npy", np.ascontiguousarray(y, dtype=np.float32))
    case = {"name": folder.name, "description": description, "outcome": "loads",
            "model": "model.onnx", "reference": source, "inputs": ["x.npy"],
            "outputs": ["y.npy"], "rtol": tolerances[0], "atol": tolerances[1]}
    case.update(extra or {})
    (folder / "case.json").write_text(json.dumps(case, indent=1) + "\n")
    print(folder.name, "x", x.shape, "y", y.shape)


def write_refusal(folder, description, fragments):
    case = {"name": folder.name, "description": description, "outcome": "refused",
            "model": "model.onnx", "error": fragments}
    (folder / "case.json").write_text(json.dumps(case, indent=1) + "\n")
    print(folder.name, "refused:", fragments)


def nnsplit():
    """sonos/tract test case byte_sb_bidi_lstm (nnsplit): bytes -> Embedding(256, 32) ->
    BiLSTM(128) -> BiLSTM(64) -> MatMul + Add -> [N, T, 2] logits (torch 1.5, opset 9)."""
    folder = HERE / "nnsplit-byte-bilstm-pt15"
    model = onnx.load(str(folder / "model.onnx"))
    w = initializers(model)
    emb = torch.nn.Embedding.from_pretrained(torch.from_numpy(w["embedding.weight"]))
    l1 = rnn_from_onnx(model, node(model, "LSTM", 0), batch_first=True)
    l2 = rnn_from_onnx(model, node(model, "LSTM", 1), batch_first=True)
    add = node(model, "Add")
    mm = node(model, "MatMul")
    kernel, bias = torch.from_numpy(w[mm.input[1]]), torch.from_numpy(w[add.input[1]])

    def run(ids):
        with torch.no_grad():
            h = l2(l1(emb(torch.from_numpy(ids.astype(np.int64))))[0])[0]
            return (h @ kernel + bias).numpy()

    ship = np.load(folder / "io.npz")
    check = np.abs(run(ship["input"]) - ship["Add_26"]).max()
    assert check < 1e-5, check
    print("  nnsplit: rebuilt PyTorch module vs the repository's onnxruntime io.npz:", check)
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 256, size=(3, 40), dtype=np.int64)
    write_case(folder, "byte-level sentence splitter: uint8 ids -> Embedding -> 2 BiLSTM ->"
               " Dense logits", ids[..., None].astype(np.float32), run(ids),
               "PyTorch " + torch.__version__ + " module rebuilt from the initializers; checked"
               " against the repository's onnxruntime io.npz (max diff %.1e)" % check)


def shape_values(model):
    """Names computed from Shape nodes (the initial-state plumbing), not from the data."""
    out = {n.output[0] for n in model.graph.node if n.op_type == "Shape"}
    changed = True
    while changed:
        changed = False
        for n in model.graph.node:
            if n.op_type != "LSTM" and any(i in out for i in n.input) and n.output[0] not in out:
                out.add(n.output[0])
                changed = True
    return out


def keras_lstm_stack(folder, description, seed, shape):
    """A Keras Sequential of LSTMs converted by tf2onnx: the LSTM nodes run time-major between
    Transposes; an inference BatchNormalization appears as Mul + Add by constants, the last LSTM
    (return_sequences=False) as Slice [-1:] + Squeeze of its time-major output, Dense as
    MatMul + Add. The PyTorch twin follows the node list: each node's constants by input name."""
    model = onnx.load(str(folder / "model.onnx"))
    w = {k: torch.from_numpy(v.copy()) for k, v in initializers(model).items()}
    rnns = {n.output[0]: rnn_from_onnx(model, n) for n in model.graph.node if n.op_type == "LSTM"}
    for n in model.graph.node:
        if n.op_type == "LSTM":
            assert [a.decode() for a in attr(n, "activations")] == ["Sigmoid", "Tanh", "Tanh"]

    def run(x):
        # x [N, T, D] -> time-major, as the graph's first Transpose does.
        h = torch.from_numpy(x).transpose(0, 1)
        with torch.no_grad():
            for n in model.graph.node:
                if n.op_type == "LSTM":
                    h = rnns[n.output[0]](h)[0]  # [T, N, H], zero initial states
                elif n.op_type == "Mul" and any(i in w for i in n.input):
                    h = h * w[next(i for i in n.input if i in w)]
                elif n.op_type == "Add" and any(i in w for i in n.input):
                    h = h + w[next(i for i in n.input if i in w)]
                elif n.op_type == "MatMul":
                    h = h @ w[n.input[1]]
                elif n.op_type == "Relu":
                    h = torch.relu(h)
                elif n.op_type == "Softmax":
                    h = torch.softmax(h, -1)
                elif n.op_type == "Slice" and n.input[0] not in shape_values(model):
                    # Slice [-1:] on the time axis + Squeeze: Keras return_sequences=False.
                    assert list(w[n.input[1]]) == [-1] and list(w[n.input[3]]) == [0]
                    h = h[-1]
                # Squeeze of the LSTM's direction axis: nn.LSTM has none. Shape plumbing: zeros.
        return h.numpy()

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    y = run(x)
    write_case(folder, description, x, y, "PyTorch " + torch.__version__ + " nn.LSTM modules"
               " rebuilt from the ONNX initializers, head ops from the node list")


def earthpulse():
    keras_lstm_stack(HERE / "earthpulse-lstm-1feature-tf2onnx", "Keras LSTM(64, seq) ->"
                     " BatchNormalization -> LSTM(32) -> BatchNormalization -> Dense(32, relu) ->"
                     " Dense(7, softmax) on ONE input feature [N, 18, 1], converted by tf2onnx"
                     " 1.16.1", 2, (3, 18, 1))


def aircraft():
    keras_lstm_stack(HERE / "aircraft-stacked-lstm-tf2onnx", "Keras LSTM(64, seq) -> LSTM(32)"
                     " -> Dense(16, relu) -> Dense(1) on [N, 30, 17], converted by tf2onnx 1.17.0",
                     3, (2, 30, 17))


def nnsplit_conv():
    write_refusal(HERE / "nnsplit-en-conv-bilstm-pt16", "nnsplit English model: bytes ->"
                  " Embedding -> Conv1d -> 3 BiLSTM -> Dense (torch 1.6, opset 9); Conv is not"
                  " supported", ["node 'Conv_6' (Conv): operator Conv is not supported",
                                 "Supported ops: LSTM, GRU, RNN"])


class WindBiLSTM(torch.nn.Module):
    """The architecture the wind-power state_dict belongs to, written from its parameter names
    and the repository's description: a bidirectional LSTM(31 -> 128), the sequence output at
    the last step o[:, -1, :], LayerNorm(256), Linear(256, 256), GELU, Dropout, Linear(256, 1)."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(31, 128, batch_first=True, bidirectional=True)
        self.norm = torch.nn.LayerNorm(256)
        self.head = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.GELU(),
                                        torch.nn.Dropout(0.1), torch.nn.Linear(256, 1))

    def forward(self, x):
        return self.head(self.norm(self.lstm(x)[0][:, -1, :]))


def wind():
    """A torch state_dict (no ONNX in the repository): exported here with torch 1.13."""
    folder = HERE / "wind-bilstm-statedict"
    module = WindBiLSTM()
    module.load_state_dict(torch.load(str(folder / "bilstm_optuna_best.pt"), map_location="cpu"))
    module.eval()
    x = torch.from_numpy(np.random.default_rng(4).standard_normal((2, 24, 31)).astype(np.float32))
    torch.onnx.export(module, (x,), str(folder / "model.onnx"), input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "n", 1: "t"}}, opset_version=14)
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((3, 30, 31)).astype(np.float32))
    with torch.no_grad():
        y = module(x).numpy()
    write_case(folder, "wind-power BiLSTM regressor (state_dict exported with torch "
               + torch.__version__ + "): o[:, -1, :] of a bidirectional output, then"
               " LayerNorm (decomposed, opset 14) and GELU (erf); T = 30 differs from the"
               " traced 24", x.numpy(), y, "PyTorch " + torch.__version__ + " WindBiLSTM with"
               " the repository's state_dict (the module the file was exported from)")


def single_rnn(name, description, seed, shape):
    """One nn.LSTM/nn.GRU(batch_first) exported with its whole sequence output Y."""
    folder = HERE / name
    model = onnx.load(str(folder / "model.onnx"))
    n = next(n for n in model.graph.node if n.op_type in ("LSTM", "GRU", "RNN"))
    rnn = rnn_from_onnx(model, n, batch_first=True)
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        y = rnn(torch.from_numpy(x))[0].numpy()
    write_case(folder, description, x, y, "PyTorch " + torch.__version__ + " nn." + n.op_type
               + " rebuilt from the ONNX initializers; N and T differ from the traced [4, 5, 10]")


def torch29():
    single_rnn("torch29-lstm-batch-first", "nn.LSTM(10, 20, batch_first), torch 2.9.1"
               " (dynamo=False), opset 20, static shapes [4, 5, 10]", 5, (3, 7, 10))
    single_rnn("torch29-gru-batch-first", "nn.GRU(10, 20, batch_first), torch 2.9.1"
               " (dynamo=False), opset 20, static shapes [4, 5, 10]", 6, (3, 7, 10))


def torch112_state_io():
    write_refusal(HERE / "torch112-lstm2-state-io", "2-layer LSTM(128 -> 256) with (h0, c0)"
                  " graph inputs and (h_n, c_n) graph outputs beside the class scores (torch"
                  " 1.12, opset 13)", ["graph output '160' is a stack of 2 states",
                                       "BiStream's model outputs are [N, T, F] or [N, F]",
                                       "export the model without this output"])


if __name__ == "__main__":
    nnsplit()
    earthpulse()
    aircraft()
    nnsplit_conv()
    wind()
    torch29()
    torch112_state_io()
