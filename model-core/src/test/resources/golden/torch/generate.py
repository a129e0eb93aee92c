#!/usr/bin/python3
"""PyTorch-computed golden cases for the Keras importer (Keras 3 `.keras`, tf.keras 2 `.h5`).

Keras cannot be installed here, so this script writes the model files itself, byte layout
following the Keras source (see README.md for every fact and the file it was read from):

* Keras 3.6.0 `.keras` zip: metadata.json, config.json (serialization_lib, with its
  ObjectSharingScope `shared_object_id` quirk), model.weights.h5 (saving_lib H5IOStore paths).
* tf.keras 2.15.0 `model.save("m.h5")`: legacy hdf5_format.save_model_to_hdf5 as run with
  h5py 3.x (root attrs, model_weights/<layer>/<weight name>, weight_names, layer_names).

The expected outputs come from PyTorch (torch.nn.GRU / LSTM / Linear / softmax, packed
sequences for masking). Two Keras features have no torch module (Keras 3 hard_sigmoid as an
LSTM recurrent activation, a relu GRU); for those the reference is a short explicit PyTorch
step loop that is first checked against the torch module with the standard activations.

Every case is then re-evaluated from the files just written (weights read back with h5py)
by an independent float64 numpy implementation of the Keras equations; the script stops if
that disagrees with PyTorch, so a wrong gate mapping or a wrong file path cannot slip out.

Run from this folder:  /usr/bin/python3 generate.py      (deterministic, byte-identical output)
"""

import copy
import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
MODELS = HERE / "models"

SOURCE = "pytorch 1.13.1 (Debian python3-torch 1.13.1+dfsg-4)"
KERAS3_VERSION = "3.6.0"
TFKERAS_VERSION = "2.15.0"
# Fixed "save time": Keras writes datetime.now() into metadata.json and the zip entry of
# model.weights.h5; a constant keeps the output byte-identical between runs.
SAVE_DATE = (2024, 10, 3, 12, 0, 0)
RTOL, ATOL = 1e-5, 1e-6

torch.set_num_threads(1)


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def uniform(shape, scale):
    """Seeded U(-scale, scale) float32 tensor (caller sets torch.manual_seed)."""
    return (torch.rand(*shape, dtype=torch.float32) * 2.0 - 1.0) * scale


def f32_values(t):
    """Row-major float32 values as the shortest decimals that round-trip to the same float32."""
    arr = np.ascontiguousarray(np.asarray(t, dtype=np.float32)).ravel()
    values = [float(np.format_float_scientific(v, unique=True)) for v in arr]
    assert np.array_equal(np.asarray(values, dtype=np.float32), arr)
    return values


def np32(t):
    return np.ascontiguousarray(t.detach().numpy().astype(np.float32))


# --------------------------------------------------------------------------------------
# PyTorch <-> Keras weight layout
# --------------------------------------------------------------------------------------


def gru_to_keras(w_ih, w_hh, b_ih, b_hh):
    """torch.nn.GRU rows are gates (r, z, n); Keras GRU columns are (z, r, h).

    Keras: kernel (D, 3H), recurrent_kernel (H, 3H), bias (2, 3H) with row 0 = input bias,
    row 1 = recurrent bias (reset_after=True). Both apply r to (h U_h + b_rec_h), as torch.
    """
    h = w_hh.shape[1]

    def zrn(m):
        return torch.cat([m[h : 2 * h], m[0:h], m[2 * h : 3 * h]], dim=0)

    return [np32(zrn(w_ih).T), np32(zrn(w_hh).T), np32(torch.stack([zrn(b_ih), zrn(b_hh)]))]


def lstm_to_keras(w_ih, w_hh, b_ih, b_hh):
    """torch.nn.LSTM rows (i, f, g, o) == Keras columns (i, f, c, o); Keras has one bias.

    The torch modules here are built with b_hh = 0, so the Keras bias is exactly b_ih.
    """
    assert float(b_hh.abs().max()) == 0.0
    return [np32(w_ih.T), np32(w_hh.T), np32(b_ih)]


def gru_params(mod, suffix=""):
    return [getattr(mod, f"{n}_l0{suffix}").detach() for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def init_gru(mod, wscale, bscale):
    with torch.no_grad():
        for name, p in mod.named_parameters():
            p.copy_(uniform(p.shape, bscale if name.startswith("bias") else wscale))
    return mod


def init_lstm(mod, wscale, bscale):
    """Seeded weights; recurrent biases zero (Keras LSTM has a single bias per gate)."""
    with torch.no_grad():
        for name, p in mod.named_parameters():
            if name.startswith("bias_hh"):
                p.zero_()
            else:
                p.copy_(uniform(p.shape, bscale if name.startswith("bias") else wscale))
    return mod


# --------------------------------------------------------------------------------------
# Explicit PyTorch step loops (only for cells no torch module has), Keras-layout weights
# --------------------------------------------------------------------------------------


def torch_lstm_loop(x, kernel, rec, bias, rec_act, act, reverse=False):
    """Keras LSTM: z = x W + h U + b -> (i, f, c, o); c = f*c + i*act(c~); h = o*act(c).

    Returns (N, T, H) with out[:, t] = output after input step t (re-reversed if reverse).
    """
    k, u, b = (torch.from_numpy(a) for a in (kernel, rec, bias))
    n, steps, _ = x.shape
    units = u.shape[0]
    h = torch.zeros(n, units)
    c = torch.zeros(n, units)
    out = [None] * steps
    for t in reversed(range(steps)) if reverse else range(steps):
        z = x[:, t] @ k + h @ u + b
        i, f, g, o = z.split(units, dim=1)
        i, f, o = rec_act(i), rec_act(f), rec_act(o)
        c = f * c + i * act(g)
        h = o * act(c)
        out[t] = h
    return torch.stack(out, dim=1)


def torch_gru_loop(x, kernel, rec, bias, rec_act, act, reverse=False):
    """Keras GRU, reset_after=True: z, r from (x W + b_in) + (h U + b_rec);
    hh = act(x W_h + b_in_h + r * (h U_h + b_rec_h)); h = z*h + (1-z)*hh."""
    k, u, b = (torch.from_numpy(a) for a in (kernel, rec, bias))
    n, steps, _ = x.shape
    units = u.shape[0]
    h = torch.zeros(n, units)
    out = [None] * steps
    for t in reversed(range(steps)) if reverse else range(steps):
        mx = x[:, t] @ k + b[0]
        mh = h @ u + b[1]
        z = rec_act(mx[:, :units] + mh[:, :units])
        r = rec_act(mx[:, units : 2 * units] + mh[:, units : 2 * units])
        hh = act(mx[:, 2 * units :] + r * mh[:, 2 * units :])
        h = z * h + (1 - z) * hh
        out[t] = h
    return torch.stack(out, dim=1)


# --------------------------------------------------------------------------------------
# Independent float64 numpy implementation of the Keras layers (verification only)
# --------------------------------------------------------------------------------------

NP_ACT = {
    "tanh": np.tanh,
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
    "hard_sigmoid": lambda v: np.clip(v / 6.0 + 0.5, 0.0, 1.0),  # Keras 3 definition
    "relu": lambda v: np.maximum(v, 0.0),
    "softmax": lambda v: np.exp(v - v.max(-1, keepdims=True)) / np.exp(v - v.max(-1, keepdims=True)).sum(-1, keepdims=True),
}


def np_rnn(kind, x, w, act, rec_act, go_backwards, mask=None, zero_output_for_mask=False, state=None):
    """Keras RNN(cell) loop (backend.rnn semantics); outputs in processing order."""
    kernel, rec, bias = (np.asarray(a, np.float64) for a in w)
    n, steps, _ = x.shape
    units = rec.shape[0]
    a, ra = NP_ACT[act], NP_ACT[rec_act]
    h = np.zeros((n, units)) if state is None else np.asarray(state[0], np.float64)
    c = np.zeros((n, units)) if state is None or kind == "gru" else np.asarray(state[1], np.float64)
    prev_out = np.zeros((n, units))
    outs = []
    for t in reversed(range(steps)) if go_backwards else range(steps):
        xt = x[:, t].astype(np.float64)
        if kind == "lstm":
            z = xt @ kernel + h @ rec + bias
            i, f, g, o = (z[:, j * units : (j + 1) * units] for j in range(4))
            c_new = ra(f) * c + ra(i) * a(g)
            h_new = ra(o) * a(c_new)
        else:
            mx = xt @ kernel + bias[0]
            mh = h @ rec + bias[1]
            zg = ra(mx[:, :units] + mh[:, :units])
            r = ra(mx[:, units : 2 * units] + mh[:, units : 2 * units])
            hh = a(mx[:, 2 * units :] + r * mh[:, 2 * units :])
            h_new, c_new = zg * h + (1 - zg) * hh, c
        if mask is None:
            h, c, out = h_new, c_new, h_new
        else:
            m = mask[:, t][:, None]
            h, c = np.where(m, h_new, h), np.where(m, c_new, c)
            out = np.where(m, h_new, 0.0 if zero_output_for_mask else prev_out)
        prev_out = out
        outs.append(out)
    return np.stack(outs, axis=1), h, c


def np_bidirectional(x, fwd, bwd, merge_mode, return_sequences, mask=None):
    """Keras Bidirectional: backward layer = go_backwards copy; its sequence re-reversed."""
    zofm = return_sequences  # Bidirectional forces zero_output_for_mask = return_sequences
    kind_f, w_f, act_f, ract_f = fwd
    kind_b, w_b, act_b, ract_b = bwd
    yf, _, _ = np_rnn(kind_f, x, w_f, act_f, ract_f, False, mask, zofm)
    yb, _, _ = np_rnn(kind_b, x, w_b, act_b, ract_b, True, mask, zofm)
    if return_sequences:
        yb = yb[:, ::-1]
    else:
        yf, yb = yf[:, -1], yb[:, -1]
    if merge_mode == "concat":
        return np.concatenate([yf, yb], axis=-1)
    if merge_mode == "ave":
        return (yf + yb) / 2
    raise ValueError(merge_mode)


def read_keras3_weights(path):
    """{h5 group path of a `vars` group: [arrays]} read back from a written .keras file."""
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["metadata.json", "config.json", "model.weights.h5"], zf.namelist()
        data = zf.read("model.weights.h5")
    out = {}
    with h5py.File(io.BytesIO(data), "r") as f:

        def visit(name, obj):
            if isinstance(obj, h5py.Group) and name.split("/")[-1] == "vars":
                out[name] = [np.asarray(obj[str(i)]) for i in range(len(obj))]

        f.visititems(visit)
    return out


def read_tfkeras_weights(path):
    """{layer name: [arrays in weight_names order]} read back from a written tf.keras .h5."""
    out = {}
    with h5py.File(path, "r") as f:
        mw = f["model_weights"]
        for layer in mw.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            g = mw[layer]
            names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
            out[layer] = [np.asarray(g[n]) for n in names]
    return out


# --------------------------------------------------------------------------------------
# Keras 3.6 serialization (serialization_lib.serialize_keras_object) emulation
# --------------------------------------------------------------------------------------


class K3Scope:
    """serialization_lib.ObjectSharingScope + record_object_after_serialization.

    An object serialized twice gets "shared_object_id" (= CPython id()) added to both
    config dicts; dicts already copied by serialize_dict before the second sighting keep
    no id. That is why the first layer's DTypePolicy has no id and the later ones do.
    """

    def __init__(self):
        self.id_to_config = {}
        self.next_id = 0x7F3A1C2B0000  # stand-in for CPython id(); only equality matters

    def new_id(self):
        self.next_id += 0x150
        return self.next_id

    def record(self, obj, config):
        if obj.pyid not in self.id_to_config:
            self.id_to_config[obj.pyid] = config
        else:
            config["shared_object_id"] = obj.pyid
            self.id_to_config[obj.pyid]["shared_object_id"] = obj.pyid


class K3Obj:
    """A Python object Keras serializes with serialize_keras_object."""

    def __init__(self, scope, module, class_name, registered_name=None):
        self.scope = scope
        self.pyid = scope.new_id()
        self.module, self.class_name, self.registered_name = module, class_name, registered_name

    def get_config(self):
        raise NotImplementedError

    def build_config(self):
        return None


def k3_serialize(obj):
    """serialization_lib.serialize_keras_object (Keras 3.6), for the types used here."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [k3_serialize(v) for v in obj]
    if isinstance(obj, dict):  # serialize_dict: a fresh copy
        return {k: k3_serialize(v) for k, v in obj.items()}
    inner = k3_serialize(obj.get_config())
    config = {"module": obj.module, "class_name": obj.class_name, "config": inner, "registered_name": obj.registered_name}
    build_config = obj.build_config()
    if build_config is not None:
        config["build_config"] = k3_serialize(build_config)
    obj.scope.record(obj, config)
    return config


class K3Policy(K3Obj):
    def __init__(self, scope):
        super().__init__(scope, "keras", "DTypePolicy")

    def get_config(self):
        return {"name": "float32"}


class K3Init(K3Obj):
    def __init__(self, scope, class_name, config):
        super().__init__(scope, "keras.initializers", class_name)
        self.config = config

    def get_config(self):
        return dict(self.config)


def k3_default_inits(scope):
    # Keras 3.6 names: GlorotUniform, OrthogonalInitializer (3.7+ writes "Orthogonal"), Zeros.
    return (
        K3Init(scope, "GlorotUniform", {"seed": None}),
        K3Init(scope, "OrthogonalInitializer", {"seed": None, "gain": 1.0}),
        K3Init(scope, "Zeros", {}),
    )


class K3Layer(K3Obj):
    def __init__(self, scope, class_name, name, policy, build_shape=None):
        super().__init__(scope, "keras.layers", class_name)
        self.name, self.policy, self.build_shape = name, policy, build_shape

    def base_config(self):  # Layer.get_config (activity_regularizer None is omitted)
        return {"name": self.name, "trainable": True, "dtype": k3_serialize(self.policy)}

    def build_config(self):
        if self.build_shape is None:
            return None
        if isinstance(self.build_shape, dict):
            return {"shapes_dict": self.build_shape}
        return {"input_shape": self.build_shape}


class K3Cell(K3Layer):
    """LSTMCell / GRUCell: serialized (and discarded) inside RNN.get_config."""

    def __init__(self, scope, kind, units, act, rec_act, policy, inits):
        super().__init__(scope, "LSTMCell" if kind == "lstm" else "GRUCell", f"{kind}_cell", policy)
        self.kind, self.units, self.act, self.rec_act, self.inits = kind, units, act, rec_act, inits

    def get_config(self):
        config = {
            "units": self.units,
            "activation": self.act,
            "recurrent_activation": self.rec_act,
            "use_bias": True,
            "kernel_initializer": k3_serialize(self.inits[0]),
            "recurrent_initializer": k3_serialize(self.inits[1]),
            "bias_initializer": k3_serialize(self.inits[2]),
        }
        return {**self.base_config(), **config}


class K3RNN(K3Layer):
    """keras.layers.LSTM / GRU (3.6 get_config order: LSTM/GRU keys after RNN keys)."""

    def __init__(self, scope, kind, name, units, policy, cell_policy, *, act="tanh", rec_act="sigmoid",
                 return_sequences=False, return_state=False, go_backwards=False,
                 zero_output_for_mask=False, build_shape=None):
        super().__init__(scope, "LSTM" if kind == "lstm" else "GRU", name, policy, build_shape)
        self.kind, self.units, self.act, self.rec_act = kind, units, act, rec_act
        self.return_sequences, self.return_state, self.go_backwards = return_sequences, return_state, go_backwards
        self.zero_output_for_mask = zero_output_for_mask
        # The layer's initializer properties return the cell's objects (shared -> ids).
        self.inits = k3_default_inits(scope)
        self.cell = K3Cell(scope, kind, units, act, rec_act, cell_policy, self.inits)

    def get_config(self):
        config = {
            "units": self.units,
            "activation": self.act,
            "recurrent_activation": self.rec_act,
            "use_bias": True,
            "kernel_initializer": k3_serialize(self.inits[0]),
            "recurrent_initializer": k3_serialize(self.inits[1]),
            "bias_initializer": k3_serialize(self.inits[2]),
        }
        if self.kind == "lstm":
            config["unit_forget_bias"] = True
        config.update({
            "kernel_regularizer": None,
            "recurrent_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "kernel_constraint": None,
            "recurrent_constraint": None,
            "bias_constraint": None,
            "dropout": 0.0,
            "recurrent_dropout": 0.0,
        })
        if self.kind == "gru":
            config["reset_after"] = True
        config["seed"] = None
        # RNN.get_config
        rnn = {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": False,
            "unroll": False,
            "zero_output_for_mask": self.zero_output_for_mask,
        }
        rnn["cell"] = k3_serialize(self.cell)
        base = {**self.base_config(), **rnn}
        del base["cell"]
        return {**base, **config}


class K3Bidirectional(K3Layer):
    def __init__(self, scope, name, policy, forward, backward, merge_mode, build_shape):
        super().__init__(scope, "Bidirectional", name, policy, build_shape)
        self.forward, self.backward, self.merge_mode = forward, backward, merge_mode

    def get_config(self):
        config = {"merge_mode": self.merge_mode}
        config["layer"] = k3_serialize(self.forward)
        config["backward_layer"] = k3_serialize(self.backward)
        return {**self.base_config(), **config}


class K3Dense(K3Layer):
    def __init__(self, scope, name, policy, units, activation, build_shape):
        super().__init__(scope, "Dense", name, policy, build_shape)
        self.units, self.activation = units, activation
        self.inits = (K3Init(scope, "GlorotUniform", {"seed": None}), K3Init(scope, "Zeros", {}))

    def get_config(self):
        base = self.base_config()
        config = {
            "units": self.units,
            "activation": self.activation,
            "use_bias": True,
            "kernel_initializer": k3_serialize(self.inits[0]),
            "bias_initializer": k3_serialize(self.inits[1]),
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        }
        return {**base, **config}


class K3LayerNormalization(K3Layer):
    def __init__(self, scope, name, policy, epsilon, center, scale, build_shape):
        super().__init__(scope, "LayerNormalization", name, policy, build_shape)
        self.epsilon, self.center, self.scale = epsilon, center, scale
        self.inits = (K3Init(scope, "Zeros", {}), K3Init(scope, "Ones", {}))

    def get_config(self):  # keras/src/layers/normalization/layer_normalization.py get_config
        config = {
            "axis": [-1],  # build() turns the int axis into a list before the model is saved
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": False,
            "beta_initializer": k3_serialize(self.inits[0]),
            "gamma_initializer": k3_serialize(self.inits[1]),
            "beta_regularizer": None,
            "gamma_regularizer": None,
            "beta_constraint": None,
            "gamma_constraint": None,
        }
        return {**self.base_config(), **config}


class K3InputLayer(K3Layer):
    def __init__(self, scope, name, batch_shape):
        super().__init__(scope, "InputLayer", name, None)
        self.batch_shape = batch_shape

    def get_config(self):  # 3.6: no "ragged"/"optional" yet
        return {"batch_shape": list(self.batch_shape), "dtype": "float32", "sparse": False, "name": self.name}


class K3Embedding(K3Layer):
    def __init__(self, scope, name, policy, input_dim, output_dim, mask_zero, build_shape):
        super().__init__(scope, "Embedding", name, policy, build_shape)
        self.input_dim, self.output_dim, self.mask_zero = input_dim, output_dim, mask_zero
        self.init = K3Init(scope, "RandomUniform", {"minval": -0.05, "maxval": 0.05, "seed": None})

    def get_config(self):  # keras/src/layers/core/embedding.py get_config (3.6)
        config = {
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": k3_serialize(self.init),
            "embeddings_regularizer": None,
            "activity_regularizer": None,
            "embeddings_constraint": None,
            "mask_zero": self.mask_zero,
        }
        return {**self.base_config(), **config}


class K3Masking(K3Layer):
    def __init__(self, scope, name, policy, mask_value, build_shape):
        super().__init__(scope, "Masking", name, policy, build_shape)
        self.mask_value = mask_value

    def get_config(self):
        return {**self.base_config(), "mask_value": self.mask_value}


class K3Op(K3Obj):
    """A keras.src.ops Operation recorded in a Functional graph (ops/operation.py):
    get_config() = {"name": ...} plus the __init__ arguments (auto-config); the class is not
    exported, so module = "keras.src.ops.numpy" and registered_name = the class name."""

    def __init__(self, scope, class_name, name, init_args=None, module="keras.src.ops.numpy"):
        super().__init__(scope, module, class_name, registered_name=class_name)
        self.name, self.init_args = name, dict(init_args or {})

    def get_config(self):
        return {"name": self.name, **self.init_args}


def k3_tensor(shape, layer_name, dtype="float32", node=0, index=0):
    return {"class_name": "__keras_tensor__", "config": {"shape": list(shape), "dtype": dtype, "keras_history": [layer_name, node, index]}}


class K3Sequential(K3Obj):
    def __init__(self, scope, policy, input_layer, layers, name="sequential"):
        super().__init__(scope, "keras", "Sequential")
        self.policy, self.input_layer, self.layers, self.name = policy, input_layer, layers, name

    def get_config(self):
        layer_configs = [k3_serialize(l) for l in [self.input_layer] + self.layers]
        config = {"name": self.name, "trainable": True, "dtype": k3_serialize(self.policy)}
        config["layers"] = copy.deepcopy(layer_configs)
        config["build_input_shape"] = list(self.input_layer.batch_shape)
        return config

    def build_config(self):
        return {"input_shape": list(self.input_layer.batch_shape)}


def k3_keras_tensor(shape, layer_name):
    return {"class_name": "__keras_tensor__", "config": {"shape": list(shape), "dtype": "float32", "keras_history": [layer_name, 0, 0]}}


class K3Functional(K3Obj):
    """keras.Model(inputs, outputs): not exported, so module/registered_name are spelled out."""

    def __init__(self, scope, layers_with_nodes, input_names, outputs, name="functional"):
        super().__init__(scope, "keras.src.models.functional", "Functional", registered_name="Functional")
        self.layers_with_nodes, self.input_names, self.outputs, self.name = layers_with_nodes, input_names, outputs, name

    def get_config(self):
        config = {"name": self.name, "trainable": True}
        layer_configs = []
        for layer, nodes in self.layers_with_nodes:
            lc = k3_serialize(layer)
            lc["name"] = layer.name
            lc["inbound_nodes"] = nodes
            layer_configs.append(lc)
        config["layers"] = layer_configs
        config["input_layers"] = [[n, 0, 0] for n in self.input_names]
        config["output_layers"] = [list(o) for o in self.outputs]
        return copy.deepcopy(config)

    def build_config(self):
        return {"input_shape": None}  # Functional.__init__ calls self.build(None)


# --------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------


def k3_rnn_vars(path, layer_name, kind, arrays):
    """saving_lib._save_state for an RNN layer: own (empty) vars, then attribute `cell`."""
    return [(path, layer_name, []), (f"{path}/cell", f"{kind}_cell", arrays)]


def k3_bidi_vars(path, name, fwd, bwd):
    """Bidirectional: dir() order visits backward_layer before forward_layer."""
    return [(path, name, [])] + k3_rnn_vars(f"{path}/backward_layer", *bwd) + k3_rnn_vars(f"{path}/forward_layer", *fwd)


def write_keras3(path, model, var_entries):
    """saving_lib._save_model_to_fileobj (Keras 3.6): zip(metadata, config, model.weights.h5)."""
    config_json = json.dumps(k3_serialize(model))
    metadata_json = json.dumps({"keras_version": KERAS3_VERSION, "date_saved": "%04d-%02d-%02d@%02d:%02d:%02d" % SAVE_DATE})
    # H5IOStore(archive=zf, mode="w") writes the h5 file into a BytesIO first.
    bio = io.BytesIO()
    h5 = h5py.File(bio, mode="w")
    for group_path, name, arrays in var_entries:  # H5Entry(mode="w") + Layer.save_own_variables
        group = h5.create_group("vars") if not group_path else h5.create_group(group_path).create_group("vars")
        group.attrs["name"] = name
        for i, value in enumerate(arrays):
            assert value.dtype == np.float32
            group[f"{i}"] = value
    h5.close()
    with open(path, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:  # ZIP_STORED, like Keras
        with zf.open("metadata.json", "w") as f:
            f.write(metadata_json.encode())
        with zf.open("config.json", "w") as f:
            f.write(config_json.encode())
        info = zipfile.ZipInfo("model.weights.h5", date_time=SAVE_DATE)  # writestr() would use now()
        info.external_attr = 0o600 << 16
        zf.writestr(info, bio.getvalue())
    return config_json


def write_tfkeras2_h5(path, model_config, layer_names, layer_weights):
    """keras/saving/legacy/hdf5_format.py save_model_to_hdf5 (tf.keras 2.15, no optimizer)."""
    with h5py.File(path, mode="w") as f:
        f.attrs["keras_version"] = TFKERAS_VERSION  # str -> variable-length UTF-8
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")  # bytes -> vlen ASCII
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [n.encode("utf8") for n in layer_names]  # list of bytes
        g.attrs["backend"] = "tensorflow".encode("utf8")
        g.attrs["keras_version"] = str(TFKERAS_VERSION).encode("utf8")
        for layer in sorted(layer_names):
            lg = g.create_group(layer)
            weights = layer_weights.get(layer, [])
            names = [w.encode("utf8") for w, _ in weights]
            lg.attrs["weight_names"] = names  # [] becomes an empty float64 attribute
            for name, (_, value) in zip(names, weights):
                assert value.dtype == np.float32
                ds = lg.create_dataset(name, value.shape, dtype=value.dtype)
                ds[:] = value
        tg = g.create_group("top_level_model_weights")
        tg.attrs["weight_names"] = []
        f.flush()


def tf2_initializers():
    init = lambda cls, cfg: {"module": "keras.initializers", "class_name": cls, "config": cfg, "registered_name": None}
    return {
        "kernel_initializer": init("GlorotUniform", {"seed": None}),
        "recurrent_initializer": init("Orthogonal", {"gain": 1.0, "seed": None}),
        "bias_initializer": init("Zeros", {}),
    }


def tf2_rnn_config(kind, name, units, return_sequences, return_state=False, go_backwards=False):
    """LSTM/GRU.get_config() in tf.keras 2.15 (dtype is a plain string there)."""
    config = {
        "name": name,
        "trainable": True,
        "dtype": "float32",
        "return_sequences": return_sequences,
        "return_state": return_state,
        "go_backwards": go_backwards,
        "stateful": False,
        "unroll": False,
        "time_major": False,
        "units": units,
        "activation": "tanh",
        "recurrent_activation": "sigmoid",
        "use_bias": True,
    }
    config.update(tf2_initializers())
    if kind == "lstm":
        config["unit_forget_bias"] = True
    config.update({
        "kernel_regularizer": None,
        "recurrent_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "recurrent_constraint": None,
        "bias_constraint": None,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "implementation": 2,
    })
    if kind == "gru":
        config["reset_after"] = True
    return config


def tf2_bidirectional(kind, units, return_sequences, batch_input_shape=None):
    """Bidirectional.get_config() in tf.keras 2.15: `layer` is the ORIGINAL wrapped layer
    (name without forward_ prefix, never built -> no build_config), in the new
    serialization_lib format even inside a legacy h5 model_config."""
    config = {"name": "bidirectional", "trainable": True, "dtype": "float32"}
    if batch_input_shape is not None:
        config["batch_input_shape"] = list(batch_input_shape)
    config["layer"] = {
        "module": "keras.layers",
        "class_name": kind.upper(),
        "config": tf2_rnn_config(kind, kind, units, return_sequences),
        "registered_name": None,
    }
    config["merge_mode"] = "concat"
    return {"class_name": "Bidirectional", "config": config}


def tf2_input_layer(name, batch_input_shape):
    return {"class_name": "InputLayer", "config": {"batch_input_shape": list(batch_input_shape), "dtype": "float32",
                                                   "sparse": False, "ragged": False, "name": name}}


def tf2_bidi_weights(kind, fwd, bwd):
    names = ("kernel:0", "recurrent_kernel:0", "bias:0")
    cell = f"{kind}_cell"
    return [(f"bidirectional/forward_{kind}/{cell}/{n}", a) for n, a in zip(names, fwd)] + [
        (f"bidirectional/backward_{kind}/{cell}/{n}", a) for n, a in zip(names, bwd)
    ]


# --------------------------------------------------------------------------------------
# Case files
# --------------------------------------------------------------------------------------

REPORT = []


def write_case(name, description, model_rel, inputs, outputs, rtol=RTOL, atol=ATOL):
    case = {
        "name": name,
        "source": SOURCE,
        "description": description,
        "model": model_rel,
        "inputs": [{"name": n, "dtype": "float32", "shape": "@@s%d@@" % i, "data": "@@%d@@" % i} for i, (n, t) in enumerate(inputs)],
        "outputs": [{"name": n, "shape": "@@s%d@@" % (100 + i), "data": "@@%d@@" % (100 + i)} for i, (n, t) in enumerate(outputs)],
        "rtol": rtol,
        "atol": atol,
    }
    text = json.dumps(case, indent=2)
    for i, (_, t) in [(i, a) for i, a in enumerate(inputs)] + [(100 + i, a) for i, a in enumerate(outputs)]:
        text = text.replace('"@@s%d@@"' % i, json.dumps(list(t.shape)))
        text = text.replace('"@@%d@@"' % i, json.dumps(f32_values(t)))
    (CASES / f"{name}.json").write_text(text + "\n")
    # Read back: the JSON must give exactly the float32 tensors used above.
    back = json.loads((CASES / f"{name}.json").read_text())
    for entry, (_, t) in zip(back["inputs"] + back["outputs"], list(inputs) + list(outputs)):
        arr = np.asarray(t, dtype=np.float32)
        assert entry["shape"] == list(arr.shape)
        assert np.array_equal(np.asarray(entry["data"], dtype=np.float32), arr.ravel())


def check(name, expected, reference64, what="numpy float64 Keras equations from the written file"):
    """Stops the script unless the independent float64 evaluation agrees with PyTorch."""
    exp = np.asarray(expected, np.float64)
    ref = np.asarray(reference64, np.float64)
    assert exp.shape == ref.shape, (name, exp.shape, ref.shape)
    err = float(np.max(np.abs(exp - ref)))
    ok = np.all(np.abs(exp - ref) <= ATOL + RTOL * np.abs(ref))
    REPORT.append(f"{name}: max |torch float32 - {what}| = {err:.2e}")
    assert ok and err < 2e-6, f"{name}: PyTorch and the Keras-equation check disagree ({err})"


def bidi_torch_seq(mod, x):
    with torch.no_grad():
        return mod(x)[0]


# --------------------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------------------


def case_bigru():
    """1. Bidirectional(GRU(4, return_sequences=True)) concat; Keras 3 .keras + tf.keras 2 .h5."""
    torch.manual_seed(101)
    d, h, n, t = 3, 4, 2, 7
    gru = init_gru(torch.nn.GRU(d, h, batch_first=True, bidirectional=True), 0.5, 0.3)
    x = torch.randn(n, t, d)
    y = bidi_torch_seq(gru, x)
    fwd = gru_to_keras(*gru_params(gru))
    bwd = gru_to_keras(*gru_params(gru, "_reverse"))

    # Keras 3
    s = K3Scope()
    p = K3Policy(s)
    shape = (None, None, d)
    bi = K3Bidirectional(
        s, "bidirectional", p,
        K3RNN(s, "gru", "forward_gru", h, K3Policy(s), K3Policy(s), return_sequences=True, zero_output_for_mask=True, build_shape=list(shape)),
        K3RNN(s, "gru", "backward_gru", h, K3Policy(s), K3Policy(s), return_sequences=True, go_backwards=True, zero_output_for_mask=True, build_shape=list(shape)),
        "concat", list(shape))
    model = K3Sequential(s, p, K3InputLayer(s, "input_layer", shape), [bi])
    path = MODELS / "bigru_concat_keras3.keras"
    write_keras3(path, model, [("", "sequential", [])] + k3_bidi_vars("layers/bidirectional", "bidirectional",
                                                                       ("forward_gru", "gru", fwd), ("backward_gru", "gru", bwd)))
    w = read_keras3_weights(path)
    ref = np_bidirectional(x.numpy(), ("gru", w["layers/bidirectional/forward_layer/cell/vars"], "tanh", "sigmoid"),
                           ("gru", w["layers/bidirectional/backward_layer/cell/vars"], "tanh", "sigmoid"), "concat", True)
    check("bigru_concat_keras3", y, ref)
    write_case("bigru_concat_keras3",
               "Keras 3.6 .keras: Sequential[Input((None,3)), Bidirectional(GRU(4, reset_after=True, return_sequences=True), merge_mode=concat)]; "
               "expected from torch.nn.GRU(bidirectional=True); Keras gate order (z,r,h) vs torch (r,z,n)",
               "../models/bigru_concat_keras3.keras", [("input_layer", x)], [("bidirectional", y)])

    # tf.keras 2.15 .h5, same weights and data
    cfg = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        tf2_input_layer("bidirectional_input", shape),
        tf2_bidirectional("gru", h, True, batch_input_shape=shape)]}}
    path = MODELS / "bigru_concat_tfkeras2.h5"
    write_tfkeras2_h5(path, cfg, ["bidirectional"], {"bidirectional": tf2_bidi_weights("gru", fwd, bwd)})
    w = read_tfkeras_weights(path)["bidirectional"]
    ref = np_bidirectional(x.numpy(), ("gru", w[:3], "tanh", "sigmoid"), ("gru", w[3:], "tanh", "sigmoid"), "concat", True)
    check("bigru_concat_tfkeras2", y, ref)
    write_case("bigru_concat_tfkeras2",
               "tf.keras 2.15 model.save('.h5'): Sequential[Bidirectional(GRU(4, reset_after=True, return_sequences=True), input_shape=(None,3))], "
               "weight names bidirectional/forward_gru/gru_cell/kernel:0 etc.; same weights/data as bigru_concat_keras3; expected from torch.nn.GRU",
               "../models/bigru_concat_tfkeras2.h5", [("bidirectional_input", x)], [("bidirectional", y)])


def case_stacked():
    """2. Bidirectional(LSTM(5)) -> Bidirectional(GRU(4)) -> Dense(3, softmax), per step."""
    torch.manual_seed(202)
    d, h1, h2, c, n, t = 3, 5, 4, 3, 3, 8
    lstm = init_lstm(torch.nn.LSTM(d, h1, batch_first=True, bidirectional=True), 0.5, 0.3)
    gru = init_gru(torch.nn.GRU(2 * h1, h2, batch_first=True, bidirectional=True), 0.45, 0.3)
    dense = torch.nn.Linear(2 * h2, c)
    with torch.no_grad():
        dense.weight.copy_(uniform(dense.weight.shape, 0.8))
        dense.bias.copy_(uniform(dense.bias.shape, 0.3))
    x = torch.randn(n, t, d)
    with torch.no_grad():
        y1 = lstm(x)[0]
        y2 = gru(y1)[0]
        y = F.softmax(dense(y2), dim=-1)
    lf, lb = lstm_to_keras(*gru_params(lstm)), lstm_to_keras(*gru_params(lstm, "_reverse"))
    gf, gb = gru_to_keras(*gru_params(gru)), gru_to_keras(*gru_params(gru, "_reverse"))
    dk = [np32(dense.weight.T), np32(dense.bias)]

    # The LSTM mapping, checked against an explicit PyTorch step loop on the Keras weights.
    loop = torch.cat([torch_lstm_loop(x, *lf, torch.sigmoid, torch.tanh),
                      torch_lstm_loop(x, *lb, torch.sigmoid, torch.tanh, reverse=True)], dim=-1)
    check("stacked (LSTM part)", y1, loop.double(), "explicit torch step loop on the Keras-layout LSTM weights")

    s = K3Scope()
    p = K3Policy(s)
    s1, s2, s3 = (None, None, d), (None, None, 2 * h1), (None, None, 2 * h2)
    bi1 = K3Bidirectional(
        s, "bidirectional", p,
        K3RNN(s, "lstm", "forward_lstm", h1, K3Policy(s), K3Policy(s), return_sequences=True, zero_output_for_mask=True, build_shape=list(s1)),
        K3RNN(s, "lstm", "backward_lstm", h1, K3Policy(s), K3Policy(s), return_sequences=True, go_backwards=True, zero_output_for_mask=True, build_shape=list(s1)),
        "concat", list(s1))
    bi2 = K3Bidirectional(
        s, "bidirectional_1", p,
        K3RNN(s, "gru", "forward_gru", h2, K3Policy(s), K3Policy(s), return_sequences=True, zero_output_for_mask=True, build_shape=list(s2)),
        K3RNN(s, "gru", "backward_gru", h2, K3Policy(s), K3Policy(s), return_sequences=True, go_backwards=True, zero_output_for_mask=True, build_shape=list(s2)),
        "concat", list(s2))
    dl = K3Dense(s, "dense", p, c, "softmax", list(s3))
    model = K3Sequential(s, p, K3InputLayer(s, "input_layer", s1), [bi1, bi2, dl])
    path = MODELS / "stacked_bilstm_bigru_softmax_keras3.keras"
    write_keras3(path, model,
                 [("", "sequential", [])]
                 + k3_bidi_vars("layers/bidirectional", "bidirectional", ("forward_lstm", "lstm", lf), ("backward_lstm", "lstm", lb))
                 + k3_bidi_vars("layers/bidirectional_1", "bidirectional_1", ("forward_gru", "gru", gf), ("backward_gru", "gru", gb))
                 + [("layers/dense", "dense", dk)])
    w = read_keras3_weights(path)
    r1 = np_bidirectional(x.numpy(), ("lstm", w["layers/bidirectional/forward_layer/cell/vars"], "tanh", "sigmoid"),
                          ("lstm", w["layers/bidirectional/backward_layer/cell/vars"], "tanh", "sigmoid"), "concat", True)
    r2 = np_bidirectional(r1, ("gru", w["layers/bidirectional_1/forward_layer/cell/vars"], "tanh", "sigmoid"),
                          ("gru", w["layers/bidirectional_1/backward_layer/cell/vars"], "tanh", "sigmoid"), "concat", True)
    kd, bd = (a.astype(np.float64) for a in w["layers/dense/vars"])
    ref = NP_ACT["softmax"](r2 @ kd + bd)
    check("stacked_bilstm_bigru_softmax_keras3", y, ref)
    write_case("stacked_bilstm_bigru_softmax_keras3",
               "Keras 3.6 .keras: Sequential[Input((None,3)), Bidirectional(LSTM(5, return_sequences=True)), "
               "Bidirectional(GRU(4, reset_after=True, return_sequences=True)), Dense(3, softmax)] (Dense on the 3-D sequence); "
               "expected from torch.nn.LSTM -> torch.nn.GRU -> Linear -> softmax",
               "../models/stacked_bilstm_bigru_softmax_keras3.keras", [("input_layer", x)], [("dense", y)])


def case_hard_sigmoid():
    """3. Bidirectional(LSTM(5, recurrent_activation='hard_sigmoid')) in Keras 3 (x/6+0.5)."""
    torch.manual_seed(303)
    d, h, n, t = 4, 5, 2, 9
    lstm = init_lstm(torch.nn.LSTM(d, h, batch_first=True, bidirectional=True), 0.9, 0.5)
    x = torch.randn(n, t, d) * 1.5
    fwd, bwd = lstm_to_keras(*gru_params(lstm)), lstm_to_keras(*gru_params(lstm, "_reverse"))
    # The loop must equal torch.nn.LSTM when given the standard sigmoid ...
    with torch.no_grad():
        y_sig = lstm(x)[0]
    loop_sig = torch.cat([torch_lstm_loop(x, *fwd, torch.sigmoid, torch.tanh),
                          torch_lstm_loop(x, *bwd, torch.sigmoid, torch.tanh, reverse=True)], dim=-1)
    check("bilstm_hard_sigmoid (loop with sigmoid vs torch.nn.LSTM)", loop_sig, y_sig.double(), "torch.nn.LSTM")
    # ... and the reference uses it with torch.nn.functional.hardsigmoid = relu6(x+3)/6.
    y = torch.cat([torch_lstm_loop(x, *fwd, F.hardsigmoid, torch.tanh),
                   torch_lstm_loop(x, *bwd, F.hardsigmoid, torch.tanh, reverse=True)], dim=-1)
    # How many gate pre-activations sit in the clipped region (|v| >= 3)?
    pre = torch.cat([(x.reshape(-1, d) @ torch.from_numpy(fwd[0]) + torch.from_numpy(fwd[2])),
                     (x.reshape(-1, d) @ torch.from_numpy(bwd[0]) + torch.from_numpy(bwd[2]))])
    REPORT.append(f"bilstm_hard_sigmoid: input-part gate pre-activations with |v| >= 3 (clipped): {float((pre.abs() >= 3).float().mean()):.1%}")

    s = K3Scope()
    p = K3Policy(s)
    shape = (None, None, d)
    mk = lambda nm, back: K3RNN(s, "lstm", nm, h, K3Policy(s), K3Policy(s), rec_act="hard_sigmoid", return_sequences=True,
                                go_backwards=back, zero_output_for_mask=True, build_shape=list(shape))
    bi = K3Bidirectional(s, "bidirectional", p, mk("forward_lstm", False), mk("backward_lstm", True), "concat", list(shape))
    model = K3Sequential(s, p, K3InputLayer(s, "input_layer", shape), [bi])
    path = MODELS / "bilstm_hard_sigmoid_keras3.keras"
    write_keras3(path, model, [("", "sequential", [])] + k3_bidi_vars("layers/bidirectional", "bidirectional",
                                                                       ("forward_lstm", "lstm", fwd), ("backward_lstm", "lstm", bwd)))
    w = read_keras3_weights(path)
    ref = np_bidirectional(x.numpy(), ("lstm", w["layers/bidirectional/forward_layer/cell/vars"], "tanh", "hard_sigmoid"),
                           ("lstm", w["layers/bidirectional/backward_layer/cell/vars"], "tanh", "hard_sigmoid"), "concat", True)
    check("bilstm_hard_sigmoid_keras3", y, ref)
    write_case("bilstm_hard_sigmoid_keras3",
               "Keras 3.6 .keras: Sequential[Input((None,4)), Bidirectional(LSTM(5, recurrent_activation='hard_sigmoid', return_sequences=True))]; "
               "Keras 3 hard_sigmoid = relu6(x+3)/6 = clip(x/6+0.5,0,1) (NOT Keras 2's clip(0.2x+0.5)); "
               "reference = explicit PyTorch step loop with torch.nn.functional.hardsigmoid (no torch module has this cell)",
               "../models/bilstm_hard_sigmoid_keras3.keras", [("input_layer", x)], [("bidirectional", y)])


def case_masking():
    """4. Masking(0.0) -> Bidirectional(LSTM(5)) with trailing zero padding, tf.keras 2 .h5."""
    torch.manual_seed(404)
    d, h, n, t = 3, 5, 3, 8
    lengths = torch.tensor([8, 5, 3])
    lstm = init_lstm(torch.nn.LSTM(d, h, batch_first=True, bidirectional=True), 0.5, 0.3)
    x = torch.randn(n, t, d)
    valid = torch.arange(t)[None, :] < lengths[:, None]
    x = torch.where(valid[..., None], x, torch.zeros(()))  # trailing padding: +0.0 in every feature
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        out_packed, (h_n, _) = lstm(packed)
    y_seq, _ = torch.nn.utils.rnn.pad_packed_sequence(out_packed, batch_first=True, total_length=t)
    y_last = torch.cat([h_n[0], h_n[1]], dim=-1)  # fwd at last valid step, bwd after step 0
    fwd, bwd = lstm_to_keras(*gru_params(lstm)), lstm_to_keras(*gru_params(lstm, "_reverse"))
    shape = (None, None, d)
    mask = np.any(x.numpy() != 0.0, axis=-1)
    assert (mask == valid.numpy()).all()

    for return_sequences, y, cname in ((True, y_seq, "masking_bilstm_seq_tfkeras2"), (False, y_last, "masking_bilstm_last_tfkeras2")):
        masking = {"class_name": "Masking", "config": {"name": "masking", "trainable": True, "dtype": "float32",
                                                       "batch_input_shape": list(shape), "mask_value": 0.0}}
        cfg = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
            tf2_input_layer("masking_input", shape), masking, tf2_bidirectional("lstm", h, return_sequences)]}}
        path = MODELS / f"{cname}.h5"
        write_tfkeras2_h5(path, cfg, ["masking", "bidirectional"], {"bidirectional": tf2_bidi_weights("lstm", fwd, bwd)})
        w = read_tfkeras_weights(path)
        assert w["masking"] == []
        w = w["bidirectional"]
        ref = np_bidirectional(x.numpy(), ("lstm", w[:3], "tanh", "sigmoid"), ("lstm", w[3:], "tanh", "sigmoid"), "concat",
                               return_sequences, mask=mask)
        check(cname, y, ref)
        what = ("return_sequences=True: padded steps are 0 in both halves (Bidirectional forces zero_output_for_mask); "
                "the backward half starts at each sample's last valid step; expected from pad_packed_sequence"
                if return_sequences else
                "return_sequences=False: forward half = output at the last valid step, backward half = output after "
                "running back to step 0; expected from the packed sequence's h_n")
        write_case(cname,
                   "tf.keras 2.15 model.save('.h5'): Sequential[Masking(mask_value=0.0, input_shape=(None,3)), "
                   f"Bidirectional(LSTM(5, return_sequences={return_sequences}))], trailing zero padding, valid lengths [8, 5, 3]; "
                   f"{what}; torch.nn.LSTM(bidirectional=True) on pack_padded_sequence",
                   f"../models/{cname}.h5", [("masking_input", x)], [("bidirectional", y)])


def case_backward_layer():
    """5a. backward_layer with other units (concat). 5b. backward_layer relu, merge ave."""
    # 5a: forward GRU(4), backward GRU(6), concat -> two unidirectional torch.nn.GRU.
    torch.manual_seed(505)
    d, n, t = 3, 2, 6
    g_f = init_gru(torch.nn.GRU(d, 4, batch_first=True), 0.5, 0.3)
    g_b = init_gru(torch.nn.GRU(d, 6, batch_first=True), 0.5, 0.3)
    x = torch.randn(n, t, d)
    with torch.no_grad():
        y_f = g_f(x)[0]
        y_b = torch.flip(g_b(torch.flip(x, [1]))[0], [1])  # run reversed, re-reverse
    y = torch.cat([y_f, y_b], dim=-1)
    fwd, bwd = gru_to_keras(*gru_params(g_f)), gru_to_keras(*gru_params(g_b))
    shape = (None, None, d)

    def model_for(bwd_units, bwd_act, merge_mode):
        s = K3Scope()
        p = K3Policy(s)
        forward = K3RNN(s, "gru", "forward_gru", 4, K3Policy(s), K3Policy(s), return_sequences=True,
                        zero_output_for_mask=True, build_shape=list(shape))
        # The user's backward_layer is kept as is: name "gru_1", default dtype policy object.
        backward = K3RNN(s, "gru", "gru_1", bwd_units, p, p, act=bwd_act, return_sequences=True, go_backwards=True,
                         zero_output_for_mask=True, build_shape=list(shape))
        bi = K3Bidirectional(s, "bidirectional", p, forward, backward, merge_mode, list(shape))
        return K3Sequential(s, p, K3InputLayer(s, "input_layer", shape), [bi])

    path = MODELS / "bigru_backward_layer_units_keras3.keras"
    write_keras3(path, model_for(6, "tanh", "concat"),
                 [("", "sequential", [])] + k3_bidi_vars("layers/bidirectional", "bidirectional", ("forward_gru", "gru", fwd), ("gru_1", "gru", bwd)))
    w = read_keras3_weights(path)
    ref = np_bidirectional(x.numpy(), ("gru", w["layers/bidirectional/forward_layer/cell/vars"], "tanh", "sigmoid"),
                           ("gru", w["layers/bidirectional/backward_layer/cell/vars"], "tanh", "sigmoid"), "concat", True)
    check("bigru_backward_layer_units_keras3", y, ref)
    write_case("bigru_backward_layer_units_keras3",
               "Keras 3.6 .keras: Sequential[Input((None,3)), Bidirectional(GRU(4, return_sequences=True), "
               "backward_layer=GRU(6, return_sequences=True, go_backwards=True), merge_mode=concat)] -> [N,T,4+6]; config has a "
               "user backward_layer named gru_1; expected from two unidirectional torch.nn.GRU, the backward one on the "
               "time-reversed input and re-reversed",
               "../models/bigru_backward_layer_units_keras3.keras", [("input_layer", x)], [("bidirectional", y)])

    # 5b: forward GRU(4) tanh, backward GRU(4, activation='relu'), merge ave.
    torch.manual_seed(555)
    n, t = 2, 7
    g_f = init_gru(torch.nn.GRU(d, 4, batch_first=True), 0.5, 0.3)
    g_b = init_gru(torch.nn.GRU(d, 4, batch_first=True), 0.5, 0.3)
    x = torch.randn(n, t, d)
    fwd, bwd = gru_to_keras(*gru_params(g_f)), gru_to_keras(*gru_params(g_b))
    with torch.no_grad():
        y_f = g_f(x)[0]
        y_b_tanh = torch.flip(g_b(torch.flip(x, [1]))[0], [1])
    loop_tanh = torch_gru_loop(x, *bwd, torch.sigmoid, torch.tanh, reverse=True)
    check("bigru_backward_relu (loop with tanh vs torch.nn.GRU)", loop_tanh, y_b_tanh.double(), "torch.nn.GRU")
    y_b = torch_gru_loop(x, *bwd, torch.sigmoid, torch.relu, reverse=True)
    y = (y_f + y_b) / 2
    path = MODELS / "bigru_backward_layer_relu_ave_keras3.keras"
    write_keras3(path, model_for(4, "relu", "ave"),
                 [("", "sequential", [])] + k3_bidi_vars("layers/bidirectional", "bidirectional", ("forward_gru", "gru", fwd), ("gru_1", "gru", bwd)))
    w = read_keras3_weights(path)
    ref = np_bidirectional(x.numpy(), ("gru", w["layers/bidirectional/forward_layer/cell/vars"], "tanh", "sigmoid"),
                           ("gru", w["layers/bidirectional/backward_layer/cell/vars"], "relu", "sigmoid"), "ave", True)
    check("bigru_backward_layer_relu_ave_keras3", y, ref)
    write_case("bigru_backward_layer_relu_ave_keras3",
               "Keras 3.6 .keras: Sequential[Input((None,3)), Bidirectional(GRU(4, return_sequences=True), "
               "backward_layer=GRU(4, activation='relu', return_sequences=True, go_backwards=True), merge_mode=ave)]; "
               "forward half from torch.nn.GRU, backward half from an explicit PyTorch GRU step loop with torch.relu "
               "(the loop equals torch.nn.GRU when given tanh)",
               "../models/bigru_backward_layer_relu_ave_keras3.keras", [("input_layer", x)], [("bidirectional", y)])


def case_initial_state():
    """6. LSTM(5, return_sequences=True, return_state=True) on [x, h0, c0]; Keras 3 + tf.keras 2."""
    torch.manual_seed(606)
    d, h, n, t = 3, 5, 2, 6
    lstm = init_lstm(torch.nn.LSTM(d, h, batch_first=True), 0.5, 0.3)
    x = torch.randn(n, t, d)
    h0 = uniform((n, h), 0.8)
    c0 = uniform((n, h), 1.0)
    with torch.no_grad():
        seq, (h_n, c_n) = lstm(x, (h0[None], c0[None]))
    outs = [("lstm", seq), ("lstm:1", h_n[0]), ("lstm:2", c_n[0])]
    kw = lstm_to_keras(*gru_params(lstm))

    s = K3Scope()
    p = K3Policy(s)
    shapes = {"x": (None, None, d), "h0": (None, h), "c0": (None, h)}
    inputs = {nm: K3InputLayer(s, nm, sh) for nm, sh in shapes.items()}
    layer = K3RNN(s, "lstm", "lstm", h, p, p, return_sequences=True, return_state=True,
                  build_shape={"sequences_shape": list(shapes["x"]), "initial_state_shape": [list(shapes["h0"]), list(shapes["c0"])]})
    node = {"args": [k3_keras_tensor(shapes["x"], "x")],
            "kwargs": {"initial_state": [k3_keras_tensor(shapes["h0"], "h0"), k3_keras_tensor(shapes["c0"], "c0")], "training": False}}
    model = K3Functional(s, [(inputs["x"], []), (inputs["h0"], []), (inputs["c0"], []), (layer, [node])],
                         ["x", "h0", "c0"], [("lstm", 0, 0), ("lstm", 0, 1), ("lstm", 0, 2)])
    path = MODELS / "lstm_initial_state_return_state_keras3.keras"
    write_keras3(path, model, [("", "functional", []), ("layers/input_layer", "x", []), ("layers/input_layer_1", "h0", []),
                               ("layers/input_layer_2", "c0", [])] + k3_rnn_vars("layers/lstm", "lstm", "lstm", kw))
    w = read_keras3_weights(path)["layers/lstm/cell/vars"]
    r_seq, r_h, r_c = np_rnn("lstm", x.numpy(), w, "tanh", "sigmoid", False, state=(h0.numpy(), c0.numpy()))
    for (nm, got), ref in zip(outs, (r_seq, r_h, r_c)):
        check(f"lstm_initial_state_return_state_keras3 [{nm}]", got, ref)
    write_case("lstm_initial_state_return_state_keras3",
               "Keras 3.6 .keras Functional: inputs [x (None,None,3), h0 (None,5), c0 (None,5)], "
               "LSTM(5, return_sequences=True, return_state=True)(x, initial_state=[h0, c0]), outputs [seq, h, c]; "
               "expected from torch.nn.LSTM(x, (h0, c0))",
               "../models/lstm_initial_state_return_state_keras3.keras",
               [("x", x), ("h0", h0), ("c0", c0)], outs)

    # tf.keras 2.15: RNN.__call__ folds Keras-tensor initial states into the inputs list.
    lstm_cfg = {"class_name": "LSTM", "config": tf2_rnn_config("lstm", "lstm", h, True, return_state=True),
                "name": "lstm", "inbound_nodes": [[["x", 0, 0, {}], ["h0", 0, 0, {}], ["c0", 0, 0, {}]]]}
    layers = [dict(tf2_input_layer(nm, sh), name=nm, inbound_nodes=[]) for nm, sh in shapes.items()] + [lstm_cfg]
    cfg = {"class_name": "Functional", "config": {"name": "model", "trainable": True, "layers": layers,
                                                  "input_layers": [["x", 0, 0], ["h0", 0, 0], ["c0", 0, 0]],
                                                  "output_layers": [["lstm", 0, 0], ["lstm", 0, 1], ["lstm", 0, 2]]}}
    names = ("kernel:0", "recurrent_kernel:0", "bias:0")
    path = MODELS / "lstm_initial_state_return_state_tfkeras2.h5"
    write_tfkeras2_h5(path, cfg, ["x", "h0", "c0", "lstm"], {"lstm": [(f"lstm/lstm_cell/{nm}", a) for nm, a in zip(names, kw)]})
    w = read_tfkeras_weights(path)["lstm"]
    r_seq, r_h, r_c = np_rnn("lstm", x.numpy(), w, "tanh", "sigmoid", False, state=(h0.numpy(), c0.numpy()))
    for (nm, got), ref in zip(outs, (r_seq, r_h, r_c)):
        check(f"lstm_initial_state_return_state_tfkeras2 [{nm}]", got, ref)
    write_case("lstm_initial_state_return_state_tfkeras2",
               "tf.keras 2.15 model.save('.h5') Functional: same model/weights/data as lstm_initial_state_return_state_keras3; "
               "the LSTM's inbound node lists [x, h0, c0] (initial states folded into the inputs); expected from torch.nn.LSTM(x, (h0, c0))",
               "../models/lstm_initial_state_return_state_tfkeras2.h5",
               [("x", x), ("h0", h0), ("c0", c0)], outs)


def case_mask_op_nodes():
    """7. Keras 3 Functional models whose masks are op nodes passed as `mask=` (layers/layer.py
    __call__ fills `mask` from the input's _keras_mask, which Embedding.compute_mask /
    Masking.compute_mask built symbolically with ops.not_equal / ops.any)."""
    # 7a/7b: ids -> Embedding -> Bidirectional(LSTM) -> Dense(softmax), trailing id-0 padding.
    torch.manual_seed(707)
    vocab, e, h, c, n, t = 12, 4, 5, 3, 3, 7
    lengths = torch.tensor([7, 4, 2])
    emb = torch.nn.Embedding(vocab, e)
    with torch.no_grad():
        emb.weight.copy_(uniform(emb.weight.shape, 0.9))
    lstm = init_lstm(torch.nn.LSTM(e, h, batch_first=True, bidirectional=True), 0.5, 0.3)
    dense = torch.nn.Linear(2 * h, c)
    with torch.no_grad():
        dense.weight.copy_(uniform(dense.weight.shape, 0.8))
        dense.bias.copy_(uniform(dense.bias.shape, 0.3))
    valid = torch.arange(t)[None, :] < lengths[:, None]
    ids = torch.where(valid, torch.randint(1, vocab, (n, t)), torch.zeros((), dtype=torch.long))
    with torch.no_grad():
        packed = torch.nn.utils.rnn.pack_padded_sequence(emb(ids), lengths, batch_first=True, enforce_sorted=False)
        seq, _ = torch.nn.utils.rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=t)
        y = F.softmax(dense(seq), dim=-1)
    fwd, bwd = lstm_to_keras(*gru_params(lstm)), lstm_to_keras(*gru_params(lstm, "_reverse"))
    ek = [np32(emb.weight)]
    dk = [np32(dense.weight.T), np32(dense.bias)]
    x_ids = ids.to(torch.float32)

    def embedding_model(mask_zero, mask_ops):
        s = K3Scope()
        p = K3Policy(s)
        s_ids, s_emb, s_bi = (None, None), (None, None, e), (None, None, 2 * h)
        inp = K3InputLayer(s, "ids", s_ids)
        em = K3Embedding(s, "embedding", p, vocab, e, mask_zero, list(s_ids))
        mk = lambda nm, back: K3RNN(s, "lstm", nm, h, K3Policy(s), K3Policy(s), return_sequences=True, go_backwards=back,
                                    zero_output_for_mask=True, build_shape=list(s_emb))
        bi = K3Bidirectional(s, "bidirectional", p, mk("forward_lstm", False), mk("backward_lstm", True), "concat", list(s_emb))
        dl = K3Dense(s, "dense", p, c, "softmax", list(s_bi))
        ops = [(K3Op(s, cls, nm, init), nodes) for cls, nm, init, nodes in mask_ops]
        mask_name = mask_ops[-1][1]
        bi_node = {"args": [k3_tensor(s_emb, "embedding")],
                   "kwargs": {"mask": k3_tensor(s_ids, mask_name, "bool"), "training": False}}
        layers = ([(inp, []), (em, [{"args": [k3_tensor(s_ids, "ids")], "kwargs": {}}])] + ops
                  + [(bi, [bi_node]), (dl, [{"args": [k3_tensor(s_bi, "bidirectional")], "kwargs": {}}])])
        return K3Functional(s, layers, ["ids"], [("dense", 0, 0)])

    var_entries = ([("", "functional", []), ("layers/input_layer", "ids", []), ("layers/embedding", "embedding", ek)]
                   + k3_bidi_vars("layers/bidirectional", "bidirectional", ("forward_lstm", "lstm", fwd), ("backward_lstm", "lstm", bwd))
                   + [("layers/dense", "dense", dk)])
    variants = (
        ("embedding_mask_not_equal_bilstm_keras3", True,
         [("NotEqual", "not_equal", None, [{"args": [k3_tensor((None, None), "ids"), 0], "kwargs": {}}])],
         "Embedding(12, 4, mask_zero=True) whose mask Keras 3 saved as an op node NotEqual(ids, 0) passed to the "
         "Bidirectional call as mask="),
        ("embedding_mask_logical_not_equal_bilstm_keras3", False,
         [("Equal", "equal", None, [{"args": [k3_tensor((None, None), "ids"), 0], "kwargs": {}}]),
          ("LogicalNot", "logical_not", None, [{"args": [k3_tensor((None, None), "equal", "bool")], "kwargs": {}}])],
         "Embedding(12, 4, mask_zero=False) and an explicit mask=ops.logical_not(ops.equal(ids, 0)) on the Bidirectional "
         "call (op nodes Equal, LogicalNot): the same mask as mask_zero=True"),
    )
    for cname, mask_zero, mask_ops, what in variants:
        path = MODELS / f"{cname}.keras"
        write_keras3(path, embedding_model(mask_zero, mask_ops), var_entries)
        w = read_keras3_weights(path)
        xe = w["layers/embedding/vars"][0].astype(np.float64)[ids.numpy()]
        r = np_bidirectional(xe, ("lstm", w["layers/bidirectional/forward_layer/cell/vars"], "tanh", "sigmoid"),
                             ("lstm", w["layers/bidirectional/backward_layer/cell/vars"], "tanh", "sigmoid"), "concat", True,
                             mask=(ids.numpy() != 0))
        kd, bd = (a.astype(np.float64) for a in w["layers/dense/vars"])
        check(cname, y, NP_ACT["softmax"](r @ kd + bd))
        write_case(cname,
                   f"Keras 3.6 .keras Functional: Input((None,), float32 ids) -> {what} -> "
                   "Bidirectional(LSTM(5, return_sequences=True)) -> Dense(3, softmax); trailing id-0 padding, lengths [7, 4, 2]; "
                   "expected from torch.nn.Embedding -> torch.nn.LSTM(bidirectional=True) on pack_padded_sequence -> Linear -> softmax",
                   f"../models/{cname}.keras", [("ids", x_ids)], [("dense", y)])

    # 7c: x -> Masking(0.0) -> GRU(4) last step; mask = Any(NotEqual(x, 0.0), axis=-1).
    torch.manual_seed(717)
    d, h, n, t = 3, 4, 3, 8
    lengths = torch.tensor([8, 6, 3])
    gru = init_gru(torch.nn.GRU(d, h, batch_first=True), 0.5, 0.3)
    valid = torch.arange(t)[None, :] < lengths[:, None]
    x = torch.where(valid[..., None], torch.randn(n, t, d), torch.zeros(()))
    with torch.no_grad():
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y = gru(packed)[1][0]
    gk = gru_to_keras(*gru_params(gru))
    s = K3Scope()
    p = K3Policy(s)
    sx = (None, None, d)
    inp = K3InputLayer(s, "x", sx)
    masking = K3Masking(s, "masking", p, 0.0, list(sx))
    ne = K3Op(s, "NotEqual", "not_equal")
    an = K3Op(s, "Any", "any", {"axis": -1, "keepdims": False})
    g = K3RNN(s, "gru", "gru", h, p, p, build_shape=list(sx))
    layers = [(inp, []), (masking, [{"args": [k3_tensor(sx, "x")], "kwargs": {}}]),
              (ne, [{"args": [k3_tensor(sx, "x"), 0.0], "kwargs": {}}]),
              (an, [{"args": [k3_tensor(sx, "not_equal", "bool")], "kwargs": {}}]),
              (g, [{"args": [k3_tensor(sx, "masking")], "kwargs": {"mask": k3_tensor((None, None), "any", "bool"), "training": False}}])]
    for cname, with_masking in (("masking_any_not_equal_gru_last_keras3", True), ("any_not_equal_mask_gru_last_keras3", False)):
        if with_masking:
            model_layers, entries = layers, [("layers/masking", "masking", [])]
            what = "Input((None,3)) -> Masking(0.0) -> GRU(4) (last step), the Masking mask saved as op nodes"
        else:  # GRU(4)(x, mask=ops.any(ops.not_equal(x, 0.0), axis=-1)): no Masking layer
            gru_node = {"args": [k3_tensor(sx, "x")], "kwargs": {"mask": k3_tensor((None, None), "any", "bool"), "training": False}}
            model_layers, entries = [layers[0], layers[2], layers[3], (g, [gru_node])], []
            what = "Input((None,3)) -> GRU(4) (last step) called with an explicit mask= of op nodes"
        path = MODELS / f"{cname}.keras"
        write_keras3(path, K3Functional(s, model_layers, ["x"], [("gru", 0, 0)]),
                     [("", "functional", []), ("layers/input_layer", "x", [])] + entries
                     + k3_rnn_vars("layers/gru", "gru", "gru", gk))
        w = read_keras3_weights(path)["layers/gru/cell/vars"]
        _, r_h, _ = np_rnn("gru", x.numpy(), w, "tanh", "sigmoid", False, mask=np.any(x.numpy() != 0.0, axis=-1))
        check(cname, y, r_h)
        write_case(cname,
                   f"Keras 3.6 .keras Functional: {what} "
                   "Any(NotEqual(x, 0.0), axis=-1) passed to the GRU call as mask=; trailing zero padding, lengths [8, 6, 3]; "
                   "expected from torch.nn.GRU on pack_padded_sequence (h_n)",
                   f"../models/{cname}.keras", [("x", x)], [("gru", y)])


def case_tfkeras2_keras_zip():
    """8. tf.keras 2.15 model.save("m.keras"): the same zip format as Keras 3, but the weights
    file keys layers by NAME under `_layer_checkpoint_dependencies/` (keras/saving/saving_lib.py
    of Keras 2.12-2.15 walks the model's `_layer_checkpoint_dependencies` dict), not by class
    counter under `layers/`. Layer names lstm, lstm_2 (a counter rule would say lstm_1)."""
    torch.manual_seed(808)
    d, h1, h2, c, n, t = 3, 5, 4, 2, 2, 6
    l1 = init_lstm(torch.nn.LSTM(d, h1, batch_first=True), 0.5, 0.3)
    l2 = init_lstm(torch.nn.LSTM(h1, h2, batch_first=True), 0.5, 0.3)
    dense = torch.nn.Linear(h2, c)
    with torch.no_grad():
        dense.weight.copy_(uniform(dense.weight.shape, 0.8))
        dense.bias.copy_(uniform(dense.bias.shape, 0.3))
    x = torch.randn(n, t, d)
    with torch.no_grad():
        y = dense(l2(l1(x)[0])[1][0][0])
    k1, k2 = lstm_to_keras(*gru_params(l1)), lstm_to_keras(*gru_params(l2))
    dk = [np32(dense.weight.T), np32(dense.bias)]
    wrap = lambda cls, cfg, shape=None: dict({"module": "keras.layers", "class_name": cls, "config": cfg, "registered_name": None},
                                             **({"build_config": {"input_shape": list(shape)}} if shape else {}))
    shape = (None, None, d)
    layers = [wrap("InputLayer", {"batch_input_shape": list(shape), "dtype": "float32", "sparse": False, "ragged": False, "name": "input_1"}),
              wrap("LSTM", tf2_rnn_config("lstm", "lstm", h1, True), shape),
              wrap("LSTM", tf2_rnn_config("lstm", "lstm_2", h2, False), (None, None, h1)),
              wrap("Dense", {"name": "dense", "trainable": True, "dtype": "float32", "units": c, "activation": "linear",
                             "use_bias": True, "kernel_initializer": tf2_initializers()["kernel_initializer"],
                             "bias_initializer": tf2_initializers()["bias_initializer"], "kernel_regularizer": None,
                             "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
                             "bias_constraint": None}, (None, h2))]
    config = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "sequential", "layers": layers}, "registered_name": None,
              "build_config": {"input_shape": list(shape)}}
    path = MODELS / "stacked_lstm_tfkeras2_keras_zip.keras"
    bio = io.BytesIO()
    with h5py.File(bio, mode="w") as h5:
        h5.create_group("vars")
        for layer, arrays, cell in (("lstm", k1, True), ("lstm_2", k2, True), ("dense", dk, False)):
            g = h5.create_group(f"_layer_checkpoint_dependencies/{layer}")
            target = g.create_group("vars") if not cell else (g.create_group("vars"), g.create_group("cell/vars"))[1]
            for i, a in enumerate(arrays):
                target[str(i)] = a
    with open(path, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
        for name, text in (("metadata.json", json.dumps({"keras_version": TFKERAS_VERSION, "date_saved": "2024-10-03@12:00:00"})),
                           ("config.json", json.dumps(config))):
            with zf.open(name, "w") as f:
                f.write(text.encode())
        info = zipfile.ZipInfo("model.weights.h5", date_time=SAVE_DATE)
        info.external_attr = 0o600 << 16
        zf.writestr(info, bio.getvalue())
    with zipfile.ZipFile(path) as zf, h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r") as f:
        w = {k: [np.asarray(f[f"_layer_checkpoint_dependencies/{k}"][str(i)]) for i in range(len(f[f"_layer_checkpoint_dependencies/{k}"]))]
             for k in ("lstm/cell/vars", "lstm_2/cell/vars", "dense/vars")}
    r1, _, _ = np_rnn("lstm", x.numpy(), w["lstm/cell/vars"], "tanh", "sigmoid", False)
    _, r2, _ = np_rnn("lstm", r1, w["lstm_2/cell/vars"], "tanh", "sigmoid", False)
    check("stacked_lstm_tfkeras2_keras_zip", y, r2 @ w["dense/vars"][0].astype(np.float64) + w["dense/vars"][1])
    write_case("stacked_lstm_tfkeras2_keras_zip",
               "tf.keras 2.15 model.save('.keras') zip: Sequential[Input((None,3)), LSTM(5, seq) 'lstm', LSTM(4) 'lstm_2', Dense(2)], "
               "weights under _layer_checkpoint_dependencies/<layer name>/cell/vars; expected from torch.nn.LSTM x2 -> Linear",
               "../models/stacked_lstm_tfkeras2_keras_zip.keras", [("input_1", x)], [("dense", y)])


def case_mask_op_stacked():
    """9. Keras 3 Functional ids -> Embedding(mask_zero) -> LSTM(seq) -> LSTM -> Dense: RNN.compute_mask
    hands the same NotEqual output on, so both LSTM calls get mask= the one op node."""
    torch.manual_seed(909)
    vocab, e, h1, h2, c, n, t = 10, 3, 5, 4, 2, 3, 7
    lengths = torch.tensor([7, 5, 2])
    emb = torch.nn.Embedding(vocab, e)
    with torch.no_grad():
        emb.weight.copy_(uniform(emb.weight.shape, 0.9))
    l1 = init_lstm(torch.nn.LSTM(e, h1, batch_first=True), 0.5, 0.3)
    l2 = init_lstm(torch.nn.LSTM(h1, h2, batch_first=True), 0.5, 0.3)
    dense = torch.nn.Linear(h2, c)
    with torch.no_grad():
        dense.weight.copy_(uniform(dense.weight.shape, 0.8))
        dense.bias.copy_(uniform(dense.bias.shape, 0.3))
    valid = torch.arange(t)[None, :] < lengths[:, None]
    ids = torch.where(valid, torch.randint(1, vocab, (n, t)), torch.zeros((), dtype=torch.long))
    pack = lambda v: torch.nn.utils.rnn.pack_padded_sequence(v, lengths, batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        s1, _ = torch.nn.utils.rnn.pad_packed_sequence(l1(pack(emb(ids)))[0], batch_first=True, total_length=t)
        y = dense(l2(pack(s1))[1][0][0])
    k1, k2 = lstm_to_keras(*gru_params(l1)), lstm_to_keras(*gru_params(l2))
    ek, dk = [np32(emb.weight)], [np32(dense.weight.T), np32(dense.bias)]
    s = K3Scope()
    p = K3Policy(s)
    s_ids, s_e, s_1 = (None, None), (None, None, e), (None, None, h1)
    mask = k3_tensor(s_ids, "not_equal", "bool")
    layers = [(K3InputLayer(s, "ids", s_ids), []),
              (K3Embedding(s, "embedding", p, vocab, e, True, list(s_ids)), [{"args": [k3_tensor(s_ids, "ids")], "kwargs": {}}]),
              (K3Op(s, "NotEqual", "not_equal"), [{"args": [k3_tensor(s_ids, "ids"), 0], "kwargs": {}}]),
              (K3RNN(s, "lstm", "lstm", h1, p, p, return_sequences=True, build_shape=list(s_e)),
               [{"args": [k3_tensor(s_e, "embedding")], "kwargs": {"mask": mask, "training": False}}]),
              (K3RNN(s, "lstm", "lstm_1", h2, p, p, build_shape=list(s_1)),
               [{"args": [k3_tensor(s_1, "lstm")], "kwargs": {"mask": mask, "training": False}}]),
              (K3Dense(s, "dense", p, c, "linear", [None, h2]), [{"args": [k3_tensor((None, h2), "lstm_1")], "kwargs": {}}])]
    cname = "embedding_mask_not_equal_stacked_lstm_keras3"
    path = MODELS / f"{cname}.keras"
    write_keras3(path, K3Functional(s, layers, ["ids"], [("dense", 0, 0)]),
                 [("", "functional", []), ("layers/input_layer", "ids", []), ("layers/embedding", "embedding", ek)]
                 + k3_rnn_vars("layers/lstm", "lstm", "lstm", k1) + k3_rnn_vars("layers/lstm_1", "lstm_1", "lstm", k2)
                 + [("layers/dense", "dense", dk)])
    w = read_keras3_weights(path)
    m = ids.numpy() != 0
    r1, _, _ = np_rnn("lstm", w["layers/embedding/vars"][0].astype(np.float64)[ids.numpy()], w["layers/lstm/cell/vars"],
                      "tanh", "sigmoid", False, mask=m)
    _, r2, _ = np_rnn("lstm", r1, w["layers/lstm_1/cell/vars"], "tanh", "sigmoid", False, mask=m)
    check(cname, y, r2 @ w["layers/dense/vars"][0].astype(np.float64) + w["layers/dense/vars"][1])
    write_case(cname,
               "Keras 3.6 .keras Functional: Input((None,), float32 ids) -> Embedding(10, 3, mask_zero=True) -> LSTM(5, seq) -> LSTM(4) "
               "-> Dense(2), both LSTM calls given mask= the one NotEqual(ids, 0) op node; trailing id-0 padding, lengths [7, 5, 2]; "
               "expected from torch.nn.Embedding -> packed torch.nn.LSTM x2 (h_n) -> Linear",
               f"../models/{cname}.keras", [("ids", ids.to(torch.float32))], [("dense", y)])


def case_layer_normalization():
    """10. LSTM(5, return_sequences) -> LayerNormalization -> Dense(2), per step; and the same with
    center=False (LayerNormalization then keeps gamma only: vars/0 is gamma)."""
    torch.manual_seed(1010)
    d, h, c, n, t = 3, 5, 2, 2, 6
    lstm = init_lstm(torch.nn.LSTM(d, h, batch_first=True), 0.6, 0.3)
    dense = torch.nn.Linear(h, c)
    gamma, beta = uniform((h,), 0.5) + 1.0, uniform((h,), 0.4)
    with torch.no_grad():
        dense.weight.copy_(uniform(dense.weight.shape, 0.8))
        dense.bias.copy_(uniform(dense.bias.shape, 0.3))
    x = torch.randn(n, t, d)
    lk = lstm_to_keras(*gru_params(lstm))
    dk = [np32(dense.weight.T), np32(dense.bias)]
    for center, suffix in ((True, ""), (False, "_no_center")):
        with torch.no_grad():
            y1 = lstm(x)[0]
            y = dense(F.layer_norm(y1, (h,), gamma, beta if center else None, eps=1e-3))
        s = K3Scope()
        p = K3Policy(s)
        shape = (None, None, d)
        rnn = K3RNN(s, "lstm", "lstm", h, K3Policy(s), K3Policy(s), return_sequences=True, build_shape=list(shape))
        norm = K3LayerNormalization(s, "layer_normalization", p, 1e-3, center, True, [None, None, h])
        dl = K3Dense(s, "dense", p, c, "linear", [None, None, h])
        model = K3Sequential(s, p, K3InputLayer(s, "input_layer", shape), [rnn, norm, dl])
        name = f"lstm_layernorm_dense{suffix}_keras3"
        path = MODELS / f"{name}.keras"
        norm_vars = [np32(gamma)] + ([np32(beta)] if center else [])
        write_keras3(path, model, [("", "sequential", [])] + k3_rnn_vars("layers/lstm", "lstm", "lstm", lk)
                     + [("layers/layer_normalization", "layer_normalization", norm_vars), ("layers/dense", "dense", dk)])
        w = read_keras3_weights(path)
        r = np_rnn("lstm", x.numpy(), w["layers/lstm/cell/vars"], "tanh", "sigmoid", False)[0]
        g = w["layers/layer_normalization/vars"][0].astype(np.float64)
        b = w["layers/layer_normalization/vars"][1].astype(np.float64) if center else 0.0
        mu, var = r.mean(-1, keepdims=True), r.var(-1, keepdims=True)
        kd, bd = (a.astype(np.float64) for a in w["layers/dense/vars"])
        ref = ((r - mu) / np.sqrt(var + 1e-3) * g + b) @ kd + bd
        check(name, y, ref)
        write_case(name,
                   f"Keras 3.6 .keras: Sequential[Input((None,3)), LSTM(5, return_sequences=True), LayerNormalization(epsilon=1e-3, center={center}), Dense(2)]; "
                   "expected from torch.nn.LSTM -> F.layer_norm -> Linear",
                   f"../models/{name}.keras", [("input_layer", x)], [("dense", y)])


def main():
    CASES.mkdir(exist_ok=True)
    MODELS.mkdir(exist_ok=True)
    case_bigru()
    case_stacked()
    case_hard_sigmoid()
    case_masking()
    case_backward_layer()
    case_initial_state()
    case_mask_op_nodes()
    case_tfkeras2_keras_zip()
    case_mask_op_stacked()
    case_layer_normalization()
    for line in REPORT:
        print(line)


if __name__ == "__main__":
    main()
