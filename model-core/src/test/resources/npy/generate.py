#!/usr/bin/env python3
"""Writes the golden .npy fixtures of io.bistream.core.npy with real NumPy.

Run: /usr/bin/python3 model-core/src/test/resources/npy/generate.py
Rewrites every fixture in this directory and expected.json; the output is
deterministic for a given NumPy version.

expected.json maps each file name to what NumPy sees in it:
  valid files:     version, descr, dtype, fortran_order, shape, values (flat,
                   row-major), and for float kinds float32_values (NumPy's own
                   astype('float32'), which the Java reader must match exactly);
                   writer_identical is true when NpyWriter must reproduce the
                   file byte for byte (C-order <f4/<i4, version 1.0).
  rejected files:  reason, and numpy_error (what np.load says) or
                   numpy_loads: true where NumPy reads the file (dtypes BiStream
                   does not support, or where BiStream is deliberately stricter).
NaN and infinities are written as the strings "nan", "inf", "-inf".
"""

import io
import json
import math
import os
import struct
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC = b"\x93NUMPY"
expected = {}


def path(name):
    return os.path.join(HERE, name)


def json_number(x):
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
    return x


def flat_values(a):
    return [json_number(v) for v in a.ravel(order="C").tolist()]


def describe(name):
    """Records what NumPy itself reads back from the file."""
    with open(path(name), "rb") as f:
        version = np.lib.format.read_magic(f)
        # The private reader is the only one that also handles version 3.0.
        shape, fortran_order, dtype = np.lib.format._read_array_header(f, version)
    a = np.load(path(name), allow_pickle=False)
    assert a.shape == shape
    entry = {
        "version": list(version),
        "descr": np.lib.format.dtype_to_descr(dtype),
        "dtype": dtype.name,
        "fortran_order": fortran_order,
        "shape": list(shape),
        "values": flat_values(a.astype(np.int64) if dtype.kind == "b" else a),
        "writer_identical": (
            np.lib.format.dtype_to_descr(dtype) in ("<f4", "<i4")
            and not fortran_order
            and version == (1, 0)
        ),
    }
    if dtype.kind == "f":
        with np.errstate(over="ignore"):  # 1e40 -> inf is the point
            entry["float32_values"] = flat_values(a.astype(np.float32))
    expected[name] = entry


def save(name, a, version=None):
    if version is None:
        np.save(path(name), a, allow_pickle=False)
    else:
        with open(path(name), "wb") as f:
            np.lib.format.write_array(f, a, version=version, allow_pickle=False)
    describe(name)


def rejected(name, data, reason):
    """Writes raw bytes and records NumPy's own verdict on them."""
    with open(path(name), "wb") as f:
        f.write(data)
    entry = {"reason": reason}
    try:
        np.load(path(name), allow_pickle=False)
        entry["numpy_loads"] = True
    except Exception as e:  # noqa: BLE001 - any NumPy failure is the answer
        entry["numpy_error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0])
    expected[name] = entry


def npy_bytes(a, **kw):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=kw.get("allow_pickle", False))
    return buf.getvalue()


def raw_npy(header_text, data=b"", version=(1, 0)):
    """An .npy file with a hand-written header dict, padded as NumPy pads."""
    fmt = "<H" if version == (1, 0) else "<I"
    header = header_text.encode("latin1")
    hlen = len(header) + 1
    pad = 64 - ((len(MAGIC) + 2 + struct.calcsize(fmt) + hlen) % 64)
    prefix = MAGIC + bytes(version) + struct.pack(fmt, hlen + pad)
    return prefix + header + b" " * pad + b"\n" + data


# ---- valid files ------------------------------------------------------------

f4_2x3 = np.array([[0.5, -1.25, 3.0], [1e-3, 65504.0, -0.0]], dtype=np.float32)
i4_2x3 = np.array([[1, -2, 3], [2**31 - 1, -(2**31), 0]], dtype=np.int32)

save("f4_2x3.npy", f4_2x3)
save("i4_2x3.npy", i4_2x3)
save("f4_big_endian_2x3.npy", f4_2x3.astype(">f4"))
save("i4_big_endian_2x3.npy", i4_2x3.astype(">i4"))
# 1e40 overflows float32 and -1e-50 underflows to -0.0 when narrowed.
f8_2x3 = np.array([[0.1, 1 / 3, 1e40], [-1e-50, 2.5, math.pi]], dtype=np.float64)
save("f8_2x3.npy", f8_2x3)
save("f8_big_endian_2x3.npy", f8_2x3.astype(">f8"))
save(
    "f4_special_values.npy",
    np.array(
        [np.nan, np.inf, -np.inf, 1e-45, np.finfo(np.float32).max, -0.0],
        dtype=np.float32,
    ),
)
i8_in_range = np.array([-(2**31), 2**31 - 1, 0, 42], dtype=np.int64)
save("i8_4.npy", i8_in_range)
save("i8_big_endian_4.npy", i8_in_range.astype(">i8"))
save("u1_4.npy", np.array([0, 127, 128, 255], dtype=np.uint8))
save("i1_4.npy", np.array([-128, -1, 0, 127], dtype=np.int8))
save("bool_3.npy", np.array([True, False, True]))

# Column-major files: numpy stores the transposed walk and sets fortran_order.
save(
    "f8_fortran_2x3x4.npy",
    np.asfortranarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 8),
)
save("i4_fortran_2x3.npy", np.asfortranarray(i4_2x3))
save("f4_fortran_3x2.npy", np.asfortranarray(f4_2x3.T))

save("f4_v2_2x3.npy", f4_2x3, version=(2, 0))
save("f4_v3_2x3.npy", f4_2x3, version=(3, 0))

save("f4_scalar.npy", np.array(3.5, dtype=np.float32))
save("i4_scalar.npy", np.array(-7, dtype=np.int32))
save("f4_empty_0.npy", np.zeros((0,), dtype=np.float32))
save("i4_empty_2x0x3.npy", np.zeros((2, 0, 3), dtype=np.int32))
save("f4_100.npy", (np.arange(100, dtype=np.float32) - 50) / 4)

# A shape whose header exactly fills its 64-byte block: numpy then pads with a
# whole extra block of 64 spaces rather than none.
boundary = np.arange(100, dtype=np.int32).reshape((1,) * 12 + (10, 10))
save("i4_padding_boundary.npy", boundary)
with open(path("i4_padding_boundary.npy"), "rb") as f:
    head = f.read(10)
    assert struct.unpack("<H", head[8:10])[0] + 10 == 192, "not on the boundary"

# ---- files BiStream rejects --------------------------------------------------------

buf = io.BytesIO()
np.savetxt(buf, f4_2x3)
rejected("text_not_npy.npy", buf.getvalue(), "np.savetxt output named .npy")

# An .npz archive (fixed timestamp so the bytes are reproducible).
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr(zipfile.ZipInfo("weights.npy", date_time=(2024, 1, 1, 0, 0, 0)),
               npy_bytes(f4_2x3))
rejected("npz_archive.npy", buf.getvalue(), "an np.savez archive named .npy")

good = npy_bytes(f4_2x3)
rejected("empty_file.npy", b"", "zero bytes")
rejected("truncated_header.npy", good[:40], "header cut after 30 of 118 bytes")
rejected("truncated_data.npy", good[:-4], "24 data bytes needed, 20 present")
rejected("trailing_bytes.npy", good + npy_bytes(i4_2x3),
          "two arrays saved to one file handle")
rejected("version_4_0.npy", MAGIC + b"\x04\x00" + good[8:], "format version 4.0")
rejected(
    "malformed_header.npy",
    raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3 }",
            good[128:]),
    "unclosed shape tuple",
)
rejected(
    "missing_key.npy",
    raw_npy("{'descr': '<f4', 'shape': (2, 3), }", good[128:]),
    "no fortran_order key",
)
rejected(
    "negative_dimension.npy",
    raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }"),
    "negative dimension",
)
rejected(
    "huge_shape.npy",
    raw_npy("{'descr': '<f4', 'fortran_order': False, "
            "'shape': (100000, 100000, 100000), }"),
    "10^15 elements, no data",
)
rejected("complex64.npy", npy_bytes(np.array([1 + 2j], dtype=np.complex64)),
          "unsupported dtype <c8")
rejected("float16.npy", npy_bytes(np.array([1.5], dtype=np.float16)),
          "unsupported dtype <f2")
rejected("unicode.npy", npy_bytes(np.array(["ab", "c"])), "unsupported dtype <U2")
rejected(
    "structured.npy",
    npy_bytes(np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")])),
    "structured dtype (descr is a list)",
)
rejected(
    "object_array.npy",
    npy_bytes(np.array([1, "two", None], dtype=object), allow_pickle=True),
    "object array: a pickle follows the header",
)
rejected(
    "i8_out_of_int_range.npy",
    npy_bytes(np.array([[0, 1], [2**31, 3]], dtype=np.int64)),
    "int64 value 2^31 at [1, 0]",
)
rejected(
    "i8_fortran_out_of_int_range.npy",
    npy_bytes(np.asfortranarray(np.array([[0, 1, 2], [3, -(2**31) - 1, 5]],
                                         dtype=np.int64))),
    "int64 value -2^31-1 at [1, 1], file offset 3 in column-major order",
)

# One line per file keeps diffs readable after a regeneration.
with open(path("expected.json"), "w") as f:
    f.write('{"numpy": %s, "files": {\n' % json.dumps(np.__version__))
    f.write(",\n".join(
        " %s: %s" % (json.dumps(name), json.dumps(expected[name], sort_keys=True))
        for name in sorted(expected)))
    f.write("\n}}\n")
print("wrote %d fixtures with numpy %s" % (len(expected), np.__version__))
