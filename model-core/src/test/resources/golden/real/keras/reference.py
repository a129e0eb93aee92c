#!/usr/bin/python3
"""PyTorch references for real Keras model files (golden/real/keras/<name>/, see ../README.md).

Every model file here was written by a real Keras (3.x `.keras` zips, Keras 2.x / tf.keras `.h5`)
and copied unchanged from a public repository (SOURCE.md beside it). This script reads each
file with zipfile/h5py only, maps the weights onto PyTorch modules (torch.nn.LSTM / GRU / RNN /
Embedding / Linear, or a short explicit torch step loop where no module has the cell, e.g. a
relu LSTM or Keras 2's hard_sigmoid), runs them on seeded inputs and writes golden cases
(../../FORMAT.md) to cases/<name>.json. It uses no BiStream code.

Weight locations (from the Keras source, checked against the files):
* Keras 3 `.keras` (saving/saving_lib.py): `layers/<snake_case(class name)>[_k]`, counted per
  class in the order of the model's layers (a Sequential's InputLayer is not a saved layer);
  Dense `vars/0,1` (kernel, bias), Embedding `vars/0`, LSTM/GRU/SimpleRNN `cell/vars/0,1,2`
  (kernel, recurrent_kernel, bias), Bidirectional `forward_layer/...` and `backward_layer/...`.
  From Keras 3.6 a `vars` group carries the layer name as attribute `name`; where present it
  is asserted to be the config's layer name, so the class-counter rule is checked, not assumed.
* Keras 2 `.h5` (saving/hdf5_format.py): `model_weights/<layer name>` with the attribute
  `weight_names`, datasets named `.../kernel:0`, `.../recurrent_kernel:0`, `.../bias:0`.

Gate layouts: Keras LSTM columns (i, f, c, o) = torch rows (i, f, g, o); Keras GRU columns
(z, r, h) -> torch rows (r, z, n), reset_after=True means the reset gate multiplies
(h U_h + b_rec_h) as torch does, bias (2, 3H) = [input bias; recurrent bias]. Keras has one
LSTM/SimpleRNN bias, so torch's bias_hh is zero.

Run from this folder:  /usr/bin/python3 reference.py      (deterministic)
"""

import io
import math
import json
import re
import zipfile
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
SOURCE = "pytorch 1.13.1 (Debian python3-torch 1.13.1+dfsg-4) on the real file's weights"
RTOL, ATOL = 1e-5, 1e-6
torch.set_num_threads(1)
REPORT = []
INDEX = []  # rows of CASES.md
# Every model runs twice: in float64 (the reference written to the case) and in float32 (how far
# float32 arithmetic alone moves the outputs: some real models amplify rounding through time).
DT = torch.float64
TIGHT = 1e-9  # agreement demanded of a step loop and a torch module in float64


def T(a):
    return torch.from_numpy(np.asarray(a)).to(DT)


# ------------------------------------------------------------------------------ reading files


def snake_case(name):  # keras/src/utils/naming.py to_snake_case
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def is_op(entry):  # a keras.src.ops Operation node of a Functional graph, not a layer
    return (entry.get("module") or "").startswith(("keras.src.ops", "keras.ops"))


def read_model(path, weights_file=None):
    """(config dict, keras_version, {layer name: {"": [arrays]} or {"forward"/"backward": [arrays]}}).
    `path` may be an architecture JSON (model.to_json()) with a save_weights `weights_file`."""
    if weights_file is not None:
        config = json.loads(Path(path).read_text())
        if isinstance(config["config"], list):
            config["config"] = {"layers": config["config"]}
        with h5py.File(weights_file, "r") as f:
            version = f.attrs.get("keras_version", config.get("keras_version", "2"))
            version = version.decode() if isinstance(version, bytes) else str(version)
            root = f["model_weights"] if "model_weights" in f else f
            return config, version, keras2_weights(root)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json"))
            version = json.loads(zf.read("metadata.json"))["keras_version"]
            h5 = h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")
        return config, version, keras3_weights(config, h5)
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
        if isinstance(config["config"], list):  # Keras 2.0-2.1 Sequential: a bare list of layers
            config["config"] = {"layers": config["config"]}
        version = f.attrs["keras_version"]
        version = version.decode() if isinstance(version, bytes) else str(version)
        return config, version, keras2_weights(f["model_weights"])


def flat_h5(h5):
    """{path: h5py object} with "/" separators. tf.keras 2.x saved on Windows joins the paths of
    nested objects with os.path.join, so one group is named e.g. `layers\\bidirectional\\cell`."""
    flat = {}
    h5.visititems(lambda name, obj: flat.__setitem__(name.replace("\\", "/"), obj))
    return flat


def vars_of(flat, path, layer_name=None):
    v = flat[f"{path}/vars"]
    if layer_name is not None and "name" in v.attrs:
        assert v.attrs["name"] == layer_name, (path, v.attrs["name"], layer_name)
    return [np.asarray(v[str(i)], np.float32) for i in range(len(v))]


def keras3_weights(config, h5):
    """Keras 3 (and tf.keras 2.14+): `layers/<class counter>`; tf.keras 2.12-2.13:
    `_layer_checkpoint_dependencies/<layer name>`."""
    flat = flat_h5(h5)
    by_name = not any(p.startswith("layers/") for p in flat)
    sequential = config["class_name"] == "Sequential"
    counts, out = {}, {}
    for entry in config["config"]["layers"]:
        cls, name = entry["class_name"], entry["config"].get("name", entry.get("name"))
        if sequential and cls == "InputLayer" or is_op(entry):
            continue
        key = snake_case(cls)
        k = counts.get(key, 0)
        counts[key] = k + 1
        g = f"_layer_checkpoint_dependencies/{name}" if by_name else "layers/" + (key if k == 0 else f"{key}_{k}")
        if cls in ("LSTM", "GRU", "SimpleRNN"):
            out[name] = {"": vars_of(flat, f"{g}/cell")}
        elif cls == "Bidirectional":
            out[name] = {d: vars_of(flat, f"{g}/{d}_layer/cell") for d in ("forward", "backward")}
        elif f"{g}/vars" in flat:
            out[name] = {"": vars_of(flat, g, name)}
    return out


def keras2_weights(mw):
    out = {}
    for name in mw:
        g = mw[name]
        names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs.get("weight_names", [])]
        arrays = [(n, np.asarray(g[n], np.float32)) for n in names]
        out[name] = {"": [a for n, a in arrays]}
        fwd = [a for n, a in arrays if "/forward" in n]
        bwd = [a for n, a in arrays if "/backward" in n]
        if fwd and bwd:
            out[name] = {"forward": fwd, "backward": bwd}
    return out


# ------------------------------------------------------------------------------ torch layers


def activation(name, keras_major):
    name = name if isinstance(name, str) else name.get("config", name.get("class_name"))
    return {
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "relu": torch.relu,
        "linear": lambda v: v,
        "softmax": lambda v: F.softmax(v, dim=-1),
        "swish": F.silu,
        "silu": F.silu,
        "elu": F.elu,
        "selu": F.selu,
        "softplus": F.softplus,
        "softsign": F.softsign,
        # Keras 2: clip(0.2x + 0.5); Keras 3: relu6(x + 3) / 6 (torch's hardsigmoid).
        "hard_sigmoid": (lambda v: torch.clamp(0.2 * v + 0.5, 0.0, 1.0)) if keras_major < 3 else F.hardsigmoid,
    }[name]


def step_loop(kind, x, w, act, rec_act, reset_after=True, mask=None, go_backwards=False):
    """The Keras cell equations as an explicit torch loop (for cells no torch module has).
    Returns outputs in input order (index t = after input step t) and the final state h."""
    k, u, b = (T(a) for a in w)
    n, steps, _ = x.shape
    units = u.shape[0]
    h = torch.zeros(n, units, dtype=DT)
    c = torch.zeros(n, units, dtype=DT)
    out = [None] * steps
    prev = torch.zeros(n, units, dtype=DT)
    for t in reversed(range(steps)) if go_backwards else range(steps):
        xt = x[:, t]
        if kind == "LSTM":
            z = xt @ k + h @ u + b
            i, f, g, o = z.split(units, dim=1)
            c_new = rec_act(f) * c + rec_act(i) * act(g)
            h_new = rec_act(o) * act(c_new)
        elif kind == "GRU":
            bi, bh = (b[0], b[1]) if b.dim() == 2 else (b, torch.zeros_like(b))
            mx = xt @ k + bi
            if reset_after:
                mh = h @ u + bh
                zg = rec_act(mx[:, :units] + mh[:, :units])
                r = rec_act(mx[:, units : 2 * units] + mh[:, units : 2 * units])
                hh = act(mx[:, 2 * units :] + r * mh[:, 2 * units :])
            else:
                zg = rec_act(mx[:, :units] + h @ u[:, :units])
                r = rec_act(mx[:, units : 2 * units] + h @ u[:, units : 2 * units])
                hh = act(mx[:, 2 * units :] + (r * h) @ u[:, 2 * units :])
            h_new, c_new = zg * h + (1 - zg) * hh, c
        else:  # SimpleRNN
            h_new = act(xt @ k + h @ u + b)
            c_new = c
        if mask is None:
            h, c, o_t = h_new, c_new, h_new
        else:  # masked step: state carried, output repeats the previous one (Keras backend.rnn)
            m = mask[:, t : t + 1]
            h, c = torch.where(m, h_new, h), torch.where(m, c_new, c)
            o_t = torch.where(m, h_new, prev)
        prev = o_t
        out[t] = o_t
    return torch.stack(out, dim=1), h


def torch_module_run(kind, x, w, act_name, rec_name, reset_after):
    """torch.nn.LSTM / GRU / RNN with the Keras weights, or None when no module has this cell."""
    kernel, rec, bias = (T(a) for a in w)
    d, units = kernel.shape[0], rec.shape[0]
    if kind == "LSTM" and act_name == "tanh" and rec_name == "sigmoid":
        mod = torch.nn.LSTM(d, units, batch_first=True)
        ih, hh, bi, bh = kernel.T, rec.T, bias, torch.zeros_like(bias)
    elif kind == "GRU" and act_name == "tanh" and rec_name == "sigmoid" and reset_after:
        mod = torch.nn.GRU(d, units, batch_first=True)
        rzn = lambda m: torch.cat([m[units : 2 * units], m[:units], m[2 * units :]], dim=0)  # (z,r,h) -> (r,z,n)
        ih, hh, bi, bh = rzn(kernel.T), rzn(rec.T), rzn(bias[0]), rzn(bias[1])
    elif kind == "SimpleRNN" and act_name in ("tanh", "relu"):
        mod = torch.nn.RNN(d, units, nonlinearity=act_name, batch_first=True)
        ih, hh, bi, bh = kernel.T, rec.T, bias, torch.zeros_like(bias)
    else:
        return None
    mod = mod.to(DT)
    with torch.no_grad():
        mod.weight_ih_l0.copy_(ih)
        mod.weight_hh_l0.copy_(hh)
        mod.bias_ih_l0.copy_(bi)
        mod.bias_hh_l0.copy_(bh)
        return mod(x)[0]


def recurrent(kind, cfg, w, x, major, mask=None, go_backwards=False):
    act_name = cfg.get("activation", "tanh")
    rec_name = cfg.get("recurrent_activation", "sigmoid")
    act_name = act_name if isinstance(act_name, str) else act_name.get("config")
    rec_name = rec_name if isinstance(rec_name, str) else rec_name.get("config")
    reset_after = cfg.get("reset_after", major >= 3)
    act, rec_act = activation(act_name, major), activation(rec_name, major) if kind != "SimpleRNN" else None
    seq, h = step_loop(kind, x, w, act, rec_act, reset_after, mask, go_backwards)
    if mask is not None and not go_backwards:
        # Masked loop on the standard activations == the torch module on the packed sequence.
        lengths = mask.sum(dim=1)
        assert torch.equal(mask, torch.arange(x.shape[1])[None, :] < lengths[:, None]), "trailing padding only"
        std_seq, std_h = step_loop(kind, x, w, torch.tanh, torch.sigmoid if kind != "SimpleRNN" else None, reset_after, mask)
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        mod_seq = torch_module_run(kind, packed, w, "tanh", "sigmoid", reset_after)
        mod_seq, _ = torch.nn.utils.rnn.pad_packed_sequence(mod_seq, batch_first=True, total_length=x.shape[1])
        mod_h = mod_seq[torch.arange(x.shape[0]), lengths - 1]
        err = float((mod_h - std_h).abs().max())
        assert err < TIGHT or DT != torch.float64, f"masked step loop vs torch module on a packed sequence: {err}"
        if DT == torch.float64:
            REPORT.append(f"  {kind} masked: explicit step loop, checked on tanh/sigmoid vs torch.nn on pack_padded_sequence ({err:.1e})")
    if mask is None and not go_backwards:
        module = torch_module_run(kind, x, w, act_name, rec_name, reset_after)
        if module is not None:
            err = float((module - seq).abs().max())
            assert err < TIGHT or DT != torch.float64, f"step loop vs torch module: {err}"
            seq, h = module, module[:, -1]
        else:
            # The loop is the reference; first it must equal the torch module on the standard
            # activations of the same cell and weights.
            std_act = "tanh"
            std_seq, _ = step_loop(kind, x, w, torch.tanh, torch.sigmoid if kind != "SimpleRNN" else None, reset_after)
            mod = torch_module_run(kind, x, w, std_act, "sigmoid", reset_after)
            if mod is not None:
                err = float((mod - std_seq).abs().max())
                assert err < TIGHT or DT != torch.float64, f"step loop (standard activations) vs torch module: {err}"
                if DT == torch.float64:
                    REPORT.append(f"  {kind} {act_name}/{rec_name}: explicit step loop, checked on tanh/sigmoid vs torch.nn ({err:.1e})")
    return seq, h


def run_layers(config, weights, major, x, mask):
    layers = config["config"]["layers"]
    if config["class_name"] != "Sequential":
        check_linear_functional(config)
    for entry in layers:
        cls, cfg = entry["class_name"], entry["config"]
        name = cfg.get("name", entry.get("name"))
        w = weights.get(name, {})
        if cls == "InputLayer" or is_op(entry):
            continue
        if cls in ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout"):
            continue
        if cls == "Masking":
            mask = (x != cfg.get("mask_value", 0.0)).any(dim=-1)
            x = x * mask[..., None]
        elif cls == "Embedding":
            emb = torch.nn.Embedding(cfg["input_dim"], cfg["output_dim"]).to(DT)
            with torch.no_grad():
                emb.weight.copy_(T(w[""][0]))
                ids = x.long()
                assert torch.equal(ids.float(), x)
                x = emb(ids)
            if cfg.get("mask_zero"):
                mask = ids != 0
        elif cls == "Reshape":
            x = x.reshape(x.shape[0], *cfg["target_shape"])
        elif cls in ("LSTM", "GRU", "SimpleRNN"):
            seq, h = recurrent(cls, cfg, w[""], x, major, mask, cfg.get("go_backwards", False))
            x = seq if cfg.get("return_sequences") else h
            if not cfg.get("return_sequences"):
                mask = None
        elif cls == "Bidirectional":
            inner = cfg["layer"]
            kind, icfg = inner["class_name"], inner["config"]
            bcfg = cfg.get("backward_layer", {}).get("config", icfg) if cfg.get("backward_layer") else icfg
            yf, hf = recurrent(kind, icfg, w["forward"], x, major, mask)
            yb, hb = recurrent(kind, bcfg, w["backward"], x, major, mask, go_backwards=True)
            if icfg.get("return_sequences"):
                if mask is not None:  # Bidirectional forces zero_output_for_mask with sequences
                    yf, yb = yf * mask[..., None], yb * mask[..., None]
                a, b = yf, yb
            else:
                a, b = hf, hb
            assert cfg.get("merge_mode", "concat") == "concat", cfg.get("merge_mode")
            x = torch.cat([a, b], dim=-1)
        elif cls in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
            assert cfg.get("data_format", "channels_last") == "channels_last" and not cfg.get("keepdims")
            if cls == "GlobalMaxPooling1D":
                assert mask is None
                x = torch.amax(x, dim=1)
            elif mask is None:
                x = torch.mean(x, dim=1)
            else:  # Keras: the masked sum over the kept count
                m = mask[..., None].to(x.dtype)
                x = (x * m).sum(dim=1) / m.sum(dim=1)
            mask = None
        elif cls == "BatchNormalization":
            # inference (Keras' training=False): the moving statistics, torch's batch_norm in eval
            arrays = [T(a) for a in w[""]]  # creation order: gamma?, beta?, moving mean, variance
            gamma = arrays.pop(0) if cfg.get("scale", True) else None
            beta = arrays.pop(0) if cfg.get("center", True) else None
            axis = cfg.get("axis", -1)
            axis = axis[0] if isinstance(axis, list) else axis
            assert axis in (-1, x.dim() - 1), axis
            flat = x.reshape(-1, x.shape[-1])
            flat = torch.nn.functional.batch_norm(flat, arrays[0], arrays[1], gamma, beta, training=False, eps=cfg.get("epsilon", 1e-3))
            x = flat.reshape(x.shape)
        elif cls == "Dense":
            lin = torch.nn.Linear(*w[""][0].shape).to(DT)
            with torch.no_grad():
                lin.weight.copy_(T(w[""][0]).T)
                lin.bias.copy_(T(w[""][1]))
                x = activation(cfg.get("activation", "linear"), major)(lin(x))
        else:
            return None, f"{cls} ({name})"
    return x, None


def check_linear_functional(config):
    previous = None
    for entry in config["config"]["layers"]:
        nodes = entry.get("inbound_nodes", [])
        if previous is not None and not is_op(entry):
            text = json.dumps(nodes)
            assert f'"{previous}"' in text, ("not a chain", entry.get("name"), text)
        if not is_op(entry):
            previous = entry["config"].get("name", entry.get("name"))


# ------------------------------------------------------------------------------ cases


def f32_values(t):
    arr = np.ascontiguousarray(np.asarray(t, dtype=np.float32)).ravel()
    values = [float(np.format_float_scientific(v, unique=True)) for v in arr]
    assert np.array_equal(np.asarray(values, dtype=np.float32), arr)
    return values


def write_case(name, description, model_rel, source, x, x_name, y, y_name, dtype="float32", weights=None, atol=ATOL):
    case = {
        "name": name,
        "source": source,
        "description": description,
        "model": model_rel,
        **({"weights": weights} if weights else {}),
        "inputs": [{"name": x_name, "dtype": dtype, "shape": list(x.shape), "data": f32_values(x)}],
        "outputs": [{"name": y_name, "shape": list(y.shape), "data": f32_values(y)}],
        "rtol": RTOL,
        "atol": atol,
    }
    CASES.mkdir(exist_ok=True)
    (CASES / f"{name}.json").write_text(json.dumps(case) + "\n")


def input_spec(config):
    """(input name, shape without batch) as Keras names the model input."""
    layers = config["config"]["layers"]
    first = layers[0]
    cfg = first["config"]
    shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
    if first["class_name"] == "InputLayer":
        return cfg["name"], shape[1:]
    return cfg["name"] + "_input", shape[1:]


def model_case(folder, model_file, seed=17, weights_file=None):
    path = folder / model_file
    config, version, weights = read_model(path, None if weights_file is None else folder / weights_file)
    major = int(version.split(".")[0])
    x_name, shape = input_spec(config)
    torch.manual_seed(seed)
    n = 2
    shape = [7 if s is None else s for s in shape]
    embedding = next((l["config"] for l in config["config"]["layers"] if l["class_name"] == "Embedding"), None)
    masking = any(l["class_name"] == "Masking" for l in config["config"]["layers"])
    if embedding is not None:
        x = torch.randint(1, embedding["input_dim"], (n, *shape)).float()
        what = f"integer ids in [1, {embedding['input_dim']}) as float32"
    else:
        x = torch.randn(n, *shape)
        what = "N(0,1) values"
        if masking and len(shape) == 2:
            valid = torch.arange(shape[0])[None, :] < torch.tensor([shape[0], max(1, shape[0] // 2)])[:, None]
            x = torch.where(valid[..., None], x, torch.zeros(()))
            what += f", the second sequence zero-padded after step {max(1, shape[0] // 2)} (masked)"
    y, unsupported, spread = run_both(config, weights, major, x)
    models = [f for f in folder.iterdir() if f.suffix in (".h5", ".keras") and "inputs_and_outputs" not in f.name]
    name = folder.name if len(models) <= 1 or weights_file else f"{folder.name}__{model_file.replace('.', '_')}"
    summary = " -> ".join(l["class_name"] for l in config["config"]["layers"] if l["class_name"] != "InputLayer" and not is_op(l))
    files = f"`{model_file}`" + (f" + `{weights_file}`" if weights_file else "")
    if unsupported is not None:
        REPORT.append(f"{name}: not computed here ({unsupported}); BiStream must refuse it (RealKerasFilesTest)")
        INDEX.append(f"| {folder.name} | {files} | {version} | {summary} | refused: {unsupported.split(' ')[0]} (see README) |")
        return
    atol = tolerance(spread)
    INDEX.append(f"| {folder.name} | {files} | {version} | {summary} | case `{name}`, atol {atol:g} |")
    last = [l for l in config["config"]["layers"] if not is_op(l)][-1]["config"]["name"]
    write_case(name, f"real Keras {version} file {folder.name}/{model_file}"
                     + (f" with weights {weights_file}" if weights_file else "")
                     + f" ({config['class_name']}); input {what}, seed {seed}; expected from PyTorch modules on the file's weights",
               f"../{folder.name}/{model_file}", SOURCE, x, x_name, y, last,
               weights=None if weights_file is None else f"../{folder.name}/{weights_file}", atol=atol)
    REPORT.append(f"{name}: Keras {version}, output {list(y.shape)}, float32 vs float64 spread {spread:.1e}, atol {atol:.0e}")


def run_both(config, weights, major, x):
    """The float64 result (the reference) and how far the float32 run lies from it."""
    global DT
    out = {}
    for dt in (torch.float64, torch.float32):
        DT = dt
        with torch.no_grad():
            out[dt] = run_layers(config, weights, major, x.to(dt), None)
    DT = torch.float64
    (y, unsupported), (y32, _) = out[torch.float64], out[torch.float32]
    if unsupported is not None:
        return None, unsupported, 0.0
    return y, None, float((y32.double() - y).abs().max())


def tolerance(spread):
    """atol for BiStream's float32 result: the default, or 4x the spread float32 rounding alone
    causes in PyTorch, rounded up to one digit, when that is larger (a model that amplifies
    rounding through time)."""
    a = 4 * spread
    if a <= ATOL:
        return ATOL
    e = 10.0 ** math.floor(math.log10(a))
    return float(f"{math.ceil(a / e) * e:.0e}")


def keras_stored_case(folder, model_file, io_file):
    """DL4J's sibling file holds inputs and, in a `predictions` group, what Keras' predict gave
    (its `outputs` group holds the training targets, not predictions: not used)."""
    with h5py.File(folder / io_file, "r") as f:
        if "predictions" not in f:
            REPORT.append(f"{folder.name}: {io_file} stores no Keras predictions (only inputs and targets)")
            return
        (x_name, x), = [(k, np.asarray(v)) for k, v in f["inputs"].items()]
        (y_name, y), = [(k, np.asarray(v)) for k, v in f["predictions"].items()]
    config, version, weights = read_model(folder / model_file)
    ours, _, _ = run_both(config, weights, int(version.split(".")[0]), torch.from_numpy(x))
    err = float(np.max(np.abs(ours.numpy() - y)))
    REPORT.append(f"{folder.name}: Keras-stored predictions vs PyTorch on the same weights: max diff {err:.1e}")
    assert err < 1e-4, err
    INDEX.append(f"| {folder.name} | `{model_file}` + `{io_file}` | {version} | (Keras' own predictions) | case `{folder.name}__keras_stored`, Keras vs PyTorch {err:.1e} |")
    write_case(folder.name + "__keras_stored", f"real Keras {version} file {folder.name}/{model_file} with the inputs and "
               f"the predictions Keras stored in {io_file} (DL4J test resources)",
               f"../{folder.name}/{model_file}", f"keras {version} (predictions stored in {io_file})", x, x_name, y, y_name)


def main():
    for folder in sorted(p for p in HERE.iterdir() if p.is_dir() and p.name != "cases"):
        files = sorted(f.name for f in folder.iterdir() if f.suffix in (".h5", ".keras"))
        architectures = sorted(f.name for f in folder.iterdir() if f.suffix == ".json")
        if architectures:  # model.to_json() + save_weights(): one architecture, one weights file
            (arch,), (weights,) = architectures, files
            model_case(folder, arch, weights_file=weights)
            continue
        models = [f for f in files if "inputs_and_outputs" not in f]
        for m in models:
            model_case(folder, m)
        for io_file in (f for f in files if "inputs_and_outputs" in f):
            keras_stored_case(folder, models[0], io_file)
    (HERE / "CASES.md").write_text(
        "# Real Keras files and their cases (written by reference.py)\n\n"
        "| folder | file | Keras version | layers | result |\n| --- | --- | --- | --- | --- |\n"
        + "\n".join(INDEX) + "\n")
    for line in REPORT:
        print(line)


if __name__ == "__main__":
    main()
