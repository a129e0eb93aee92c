#!/usr/bin/python3
"""Cases for the importer's constant evaluator (ConstFolding.evaluate), expected values from numpy.

Run from this folder:  /usr/bin/python3 const_ops.py   (writes const_ops.json)

Each case: op, opset, attributes, inputs (shape + row-major data; null for an absent optional
input), and the numpy result. Slice follows ONNX's clamping, which numpy's basic slicing shares
for step 1 and negative steps alike.
"""

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
rng = np.random.default_rng(7)


def arr(*shape):
    return rng.integers(-9, 10, size=shape).astype(np.float64)


def t(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "data": a.reshape(-1).tolist()}


cases = []


def case(name, op, inputs, expected, attrs=None, opset=14):
    cases.append({"name": name, "op": op, "opset": opset, "attrs": attrs or {},
                  "inputs": [None if i is None else t(i) for i in inputs], "expected": t(expected)})


a, b, c, d = arr(2, 3, 4), arr(2, 1, 4), arr(2, 5, 4), arr(2, 3, 2)
case("concat rank 3 on axis 1", "Concat", [a, b, c], np.concatenate([a, b, c], 1), {"axis": 1})
case("concat rank 3 on axis -1", "Concat", [a, d], np.concatenate([a, d], -1), {"axis": -1})
w = arr(16, 3)
case("concat of weight row blocks (gate reordering)", "Concat",
     [w[0:4], w[12:16], w[4:12]], np.concatenate([w[0:4], w[12:16], w[4:12]], 0), {"axis": 0})
x = arr(4, 6, 5)
case("slice two axes", "Slice", [x, np.array([1, -4]), np.array([3, 100]), np.array([0, 2])],
     x[1:3, :, -4:100])
case("slice with negative step", "Slice",
     [x, np.array([-1]), np.array([-100]), np.array([1]), np.array([-2])], x[:, -1:-100:-2])
case("slice with steps and default axes", "Slice",
     [x, np.array([0, 1]), np.array([4, 6]), None, np.array([2, 3])], x[0:4:2, 1:6:3])
case("slice opset 9 attributes", "Slice", [x], x[:, 2:5],
     {"starts": [2], "ends": [5], "axes": [1]}, opset=9)
idx = np.array([[0, -1], [2, 1]])
case("gather 2-D indices on axis 1", "Gather", [x, idx], np.take(x, idx, axis=1), {"axis": 1})
case("gather scalar index on axis 0", "Gather", [x, np.array(-2)], x[-2], {"axis": 0})
case("transpose rank 3", "Transpose", [x], np.transpose(x, (2, 0, 1)), {"perm": [2, 0, 1]})
case("transpose default reverses", "Transpose", [x], np.transpose(x))
case("unsqueeze two axes", "Unsqueeze", [a, np.array([0, -1])], a[None, ..., None])
case("unsqueeze opset 11 attribute", "Unsqueeze", [a], a[:, None], {"axes": [1]}, opset=11)
case("squeeze axis", "Squeeze", [b, np.array([1])], b[:, 0])
u = arr(1, 3, 1)
case("squeeze all unit axes", "Squeeze", [u], np.squeeze(u))
case("reshape with 0 and -1", "Reshape", [x, np.array([0, -1])], x.reshape(4, -1))
case("expand by broadcasting", "Expand", [b, np.array([3, 1, 1, 1])],
     np.broadcast_to(b, (3, 2, 1, 4)))
case("add with broadcasting", "Add", [a, b], a + b)
v = arr(4)
case("sub with broadcasting", "Sub", [a, v], a - v)
m1, m2 = arr(3, 1), arr(1, 5)
case("mul with broadcasting", "Mul", [m1, m2], m1 * m2)
f = np.array([-2.7, -0.5, 0.5, 2.7])
case("cast to int64 truncates toward zero", "Cast", [f], np.trunc(f), {"to": 7})
case("shape with start", "Shape", [x], np.array(x.shape[1:]), {"start": 1})

(HERE / "const_ops.json").write_text(
    "[\n" + ",\n".join(json.dumps(c, separators=(",", ":")) for c in cases) + "\n]\n")
print(len(cases), "cases")
