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


if __name__ == "__main__":
    nnsplit()
