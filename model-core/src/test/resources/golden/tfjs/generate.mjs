// Generates TensorFlow.js-computed golden fixtures for the BiStream Keras importer.
//
//   cd model-core/src/test/resources/golden/tfjs && npm ci && node generate.mjs
//
// Part 1 builds synthetic tf.LayersModels, saves them in TF.js's own layers-model format
// (models/<case>/model.json + weights.bin) and writes the TF.js predictions to cases/<case>.json.
// Part 2 loads the Keras-written conformance .h5 files under ../../../../../../../shared/conformance/keras
// (i.e. <repo>/../shared/conformance/keras), builds each model with TF.js and writes
// cases/conformance__*.json. See README.md for details and caveats.
//
// Everything is deterministic: weights and inputs come from a seeded mulberry32 RNG (seed derived
// from the case name), TF.js runs on its pure-JS CPU backend, and nothing time-dependent is written.

import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeRng, prod, stringify, writeFile, toNumberArray } from './common.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CASES_DIR = path.join(HERE, 'cases');
const MODELS_DIR = path.join(HERE, 'models');
// golden/tfjs -> golden -> resources -> test -> src -> model-core -> main ; shared/ sits beside main/
const SHARED_DIR = process.env.BISTREAM_SHARED_DIR
  ? path.resolve(process.env.BISTREAM_SHARED_DIR)
  : path.resolve(HERE, '../../../../../../../shared');
const KERAS_DIR = path.join(SHARED_DIR, 'conformance', 'keras');

const SOURCE = `tfjs ${tf.version.tfjs}`;
const N = 2;

function writeCase(c) {
  const ordered = {
    name: c.name,
    source: SOURCE,
    description: c.description,
    model: c.model ?? null,
    inputs: c.inputs ?? [],
    outputs: c.outputs ?? [],
  };
  if (c.skip) ordered.skip = c.skip;
  else {
    ordered.rtol = c.rtol ?? 1e-5;
    ordered.atol = c.atol ?? 1e-6;
  }
  writeFile(path.join(CASES_DIR, c.name + '.json'), stringify(ordered) + '\n');
}

// --------------------------------------------------------------------------------------------
// Prediction helpers
// --------------------------------------------------------------------------------------------

function tensorFromSpec(spec) {
  return spec.dtype === 'int32'
    ? tf.tensor(Int32Array.from(spec.data), spec.shape, 'int32')
    : tf.tensor(Float32Array.from(spec.data), spec.shape, 'float32');
}

// Name of the k-th model output: "<layer>" for tensor index 0, "<layer>:<i>" for the i-th tensor
// of a multi-output layer node (Bidirectional merge_mode=null / return_state).
function outputNames(model) {
  return model.outputLayers.map((layer, k) => {
    const ti = model.outputLayersTensorIndices[k];
    return ti === 0 ? layer.name : `${layer.name}:${ti}`;
  });
}

function predict(model, inputSpecs) {
  const xs = inputSpecs.map(tensorFromSpec);
  let ys = model.predict(xs.length === 1 ? xs[0] : xs, { batchSize: 1024 });
  if (!Array.isArray(ys)) ys = [ys];
  const names = outputNames(model);
  const outs = ys.map((y, i) => ({ name: names[i], shape: y.shape, data: toNumberArray(y.dataSync()) }));
  tf.dispose(xs);
  tf.dispose(ys);
  return outs;
}

// --------------------------------------------------------------------------------------------
// Part 1: synthetic models in TF.js layers-model format
// --------------------------------------------------------------------------------------------

function randomizeWeights(model, rng, lo = -0.5, hi = 0.5) {
  for (const layer of model.layers) {
    const ws = layer.weights;
    if (ws.length === 0) continue;
    const values = ws.map((w) => tf.tensor(rng.floats(prod(w.shape), lo, hi), w.shape, 'float32'));
    layer.setWeights(values);
    tf.dispose(values);
  }
}

async function saveLayersModel(model, caseName) {
  let artifacts = null;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
  }));
  const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
  };
  const dir = path.join(MODELS_DIR, caseName);
  writeFile(path.join(dir, 'model.json'), JSON.stringify(modelJson, null, 1) + '\n');
  writeFile(path.join(dir, 'weights.bin'), Buffer.from(weightData));
  return artifacts;
}

// Re-load the saved model from disk bytes and check it predicts the same values
// (guards against the saved topology/weights not being what was run).
async function reloadCheck(caseName, artifacts, inputs, outputs) {
  const dir = path.join(MODELS_DIR, caseName);
  const mj = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const bin = fs.readFileSync(path.join(dir, 'weights.bin'));
  const ab = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  const m2 = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: mj.modelTopology,
    weightSpecs: mj.weightsManifest[0].weights,
    weightData: ab,
  }));
  const again = predict(m2, inputs);
  for (let i = 0; i < outputs.length; i++) {
    const a = outputs[i].data, b = again[i].data;
    if (a.length !== b.length || a.some((v, j) => v !== b[j])) {
      throw new Error(`${caseName}: reloaded model output ${i} differs`);
    }
  }
  m2.dispose();
}

function floatInput(name, shape, rng, lo = -1, hi = 1) {
  return { name, dtype: 'float32', shape, data: toNumberArray(rng.floats(prod(shape), lo, hi)) };
}

// Masked input: the listed (sample, step) positions are set to exactly zero in every feature.
function maskedInput(name, shape, rng, zeroSteps) {
  const spec = floatInput(name, shape, rng);
  const [, T, D] = shape;
  for (const [n, t] of zeroSteps) for (let d = 0; d < D; d++) spec.data[(n * T + t) * D + d] = 0;
  return spec;
}

const L = tf.layers;

// Small helpers for layer construction with explicit names.
const lstm = (name, units, o = {}) => L.lstm({ name, units, activation: 'tanh', recurrentActivation: 'sigmoid', returnSequences: true, ...o });
const gru = (name, units, o = {}) => L.gru({ name, units, activation: 'tanh', recurrentActivation: 'sigmoid', returnSequences: true, ...o });
const srnn = (name, units, o = {}) => L.simpleRNN({ name, units, activation: 'tanh', returnSequences: true, ...o });
const bi = (name, layer, o = {}) => L.bidirectional({ name, layer, mergeMode: 'concat', ...o });
const dense = (name, units, activation = 'linear', o = {}) => L.dense({ name, units, activation, ...o });

// Sequential model with an explicit tf.layers.inputLayer first (named "<first layer>_input"
// like Keras does for Sequential models).
function sequential(name, inputShape, layers, inputName, dtype = 'float32') {
  const m = tf.sequential({ name });
  m.add(L.inputLayer({ name: inputName ?? `${layers[0].name}_input`, batchInputShape: [null, ...inputShape], dtype }));
  for (const l of layers) m.add(l);
  return m;
}

const T = 7;
const D = 3;

// Each entry: { name, description, build(rng) -> {model, inputs} } or { name, description, skip }.
const SYNTHETIC = [];
const def = (name, description, build) => SYNTHETIC.push({ name, description, build });
const skipDef = (name, description, skip) => SYNTHETIC.push({ name, description, skip });

// ---- Bidirectional(LSTM) merge modes ----
for (const mode of ['concat', 'sum', 'mul', 'ave']) {
  def(`bilstm_${mode}`, `Sequential: Bidirectional(LSTM(5, tanh/sigmoid, return_sequences=True), merge_mode=${mode}); input [N,T,D]`,
    (rng) => ({
      model: sequential(`bilstm_${mode}`, [null, D], [bi('bi1', lstm('lstm1', 5), { mergeMode: mode })]),
      inputs: [floatInput('bi1_input', [N, T, D], rng)],
    }));
}
def('bilstm_none', 'Functional: Bidirectional(LSTM(5), merge_mode=None) -> two outputs: forward sequence then backward sequence (re-reversed to input order)',
  (rng) => {
    const x = L.input({ name: 'x', shape: [null, D] });
    const [f, b] = bi('bi1', lstm('lstm1', 5), { mergeMode: null }).apply(x);
    return { model: tf.model({ name: 'bilstm_none', inputs: x, outputs: [f, b] }), inputs: [floatInput('x', [N, T, D], rng)] };
  });
def('bilstm_hard_sigmoid_last', 'Sequential: Bidirectional(LSTM(4, tanh/hard_sigmoid, return_sequences=False), concat) -> Dense(3, sigmoid): output [N,3]',
  (rng) => ({
    model: sequential('bilstm_hard_sigmoid_last', [null, D], [
      bi('bi1', lstm('lstm1', 4, { recurrentActivation: 'hardSigmoid', returnSequences: false })),
      dense('out', 3, 'sigmoid'),
    ]),
    inputs: [floatInput('bi1_input', [N, T, D], rng)],
  }));
def('bilstm_inner_go_backwards', 'Sequential: Bidirectional(LSTM(4, go_backwards=True, return_sequences=True), concat): the wrapped layer runs backwards, the generated backward copy runs forwards; Keras/TF.js still reverse the second half only',
  (rng) => ({
    model: sequential('bilstm_inner_go_backwards', [null, D], [bi('bi1', lstm('lstm1', 4, { goBackwards: true }))]),
    inputs: [floatInput('bi1_input', [N, T, D], rng)],
  }));

// ---- Unsupported by TF.js: documented skips ----
skipDef('bilstm_backward_layer', 'Bidirectional(LSTM(4), backward_layer=LSTM(3, relu, go_backwards=True))',
  'TF.js 4.22.0 tf.layers.bidirectional has no backwardLayer option (BidirectionalLayerArgs only has layer and mergeMode; the constructor always clones `layer` with go_backwards flipped and ignores any other argument). A separate backward_layer cannot be built or deserialized by TF.js.');
skipDef('bigru_reset_after', 'Bidirectional(GRU(4, reset_after=True))',
  'TF.js 4.22.0 GRUCell throws "GRUCell does not support reset_after parameter set to true."; only reset_after=False (bias shape [3*units]) is implemented.');

// ---- GRU / SimpleRNN ----
def('bigru_concat', 'Sequential: Bidirectional(GRU(4, tanh/sigmoid, reset_after=False, return_sequences=True), concat)',
  (rng) => ({
    model: sequential('bigru_concat', [null, D], [bi('bi1', gru('gru1', 4))]),
    inputs: [floatInput('bi1_input', [N, T, D], rng)],
  }));
def('gru_hard_sigmoid', 'Sequential: GRU(5, tanh/hard_sigmoid, reset_after=False, return_sequences=True) (unidirectional)',
  (rng) => ({
    model: sequential('gru_hard_sigmoid', [null, D], [gru('gru1', 5, { recurrentActivation: 'hardSigmoid' })]),
    inputs: [floatInput('gru1_input', [N, T, D], rng)],
  }));
for (const act of ['tanh', 'relu']) {
  def(`bisimplernn_${act}`, `Sequential: Bidirectional(SimpleRNN(4, activation=${act}, return_sequences=True), concat)`,
    (rng) => ({
      model: sequential(`bisimplernn_${act}`, [null, D], [bi('bi1', srnn('rnn1', 4, { activation: act }))]),
      inputs: [floatInput('bi1_input', [N, T, D], rng)],
    }));
}

// ---- Stacks ----
def('stacked_bilstm_bigru_td_softmax', 'Sequential: Bidirectional(LSTM(5), concat) -> Bidirectional(GRU(4, reset_after=False), concat) -> TimeDistributed(Dense(3, softmax))',
  (rng) => ({
    model: sequential('stacked_bilstm_bigru_td_softmax', [null, D], [
      bi('bi1', lstm('lstm1', 5)),
      bi('bi2', gru('gru1', 4)),
      L.timeDistributed({ name: 'td', layer: dense('td_dense', 3, 'softmax') }),
    ]),
    inputs: [floatInput('bi1_input', [N, T, D], rng)],
  }));
def('stacked_birnn_bilstm_dense3d', 'Sequential: Bidirectional(SimpleRNN(4), concat) -> Bidirectional(LSTM(3, hard_sigmoid), sum) -> Dense(2, tanh) applied directly to the 3D sequence',
  (rng) => ({
    model: sequential('stacked_birnn_bilstm_dense3d', [null, D], [
      bi('bi1', srnn('rnn1', 4)),
      bi('bi2', lstm('lstm2', 3, { recurrentActivation: 'hardSigmoid' }), { mergeMode: 'sum' }),
      dense('out', 2, 'tanh'),
    ]),
    inputs: [floatInput('bi1_input', [N, T, D], rng)],
  }));

// ---- Recurrent activations ----
def('lstm_relu_sigmoid', 'Sequential: LSTM(5, activation=relu, recurrent_activation=sigmoid, return_sequences=True)',
  (rng) => ({
    model: sequential('lstm_relu_sigmoid', [null, D], [lstm('lstm1', 5, { activation: 'relu', recurrentActivation: 'sigmoid' })]),
    inputs: [floatInput('lstm1_input', [N, T, D], rng)],
  }));
def('lstm_relu_hard_sigmoid', 'Sequential: LSTM(5, activation=relu, recurrent_activation=hard_sigmoid (Keras-2 clip(0.2x+0.5,0,1)), return_sequences=True)',
  (rng) => ({
    model: sequential('lstm_relu_hard_sigmoid', [null, D], [lstm('lstm1', 5, { activation: 'relu', recurrentActivation: 'hardSigmoid' })]),
    // wider inputs so that hard_sigmoid hits both clip regions
    inputs: [floatInput('lstm1_input', [N, T, D], rng, -4, 4)],
  }));

// ---- Dense heads with every activation ----
for (const act of ['linear', 'relu', 'elu', 'selu', 'softsign', 'softplus', 'swish', 'softmax', 'sigmoid', 'tanh']) {
  def(`head_${act}`, `Sequential: Bidirectional(LSTM(3), concat) -> Dense(4, activation=${act}) on the 3D sequence`,
    (rng) => ({
      model: sequential(`head_${act}`, [null, D], [bi('bi1', lstm('lstm1', 3)), dense('head', 4, act, {})]),
      inputs: [floatInput('bi1_input', [N, 6, D], rng)],
    }));
}
def('activation_layer', 'Sequential: Bidirectional(LSTM(4), ave) -> Dense(5, linear) -> Activation(softmax) -> Activation(tanh)',
  (rng) => ({
    model: sequential('activation_layer', [null, D], [
      bi('bi1', lstm('lstm1', 4), { mergeMode: 'ave' }),
      dense('dense1', 5, 'linear'),
      L.activation({ name: 'act_softmax', activation: 'softmax' }),
      L.activation({ name: 'act_tanh', activation: 'tanh' }),
    ]),
    inputs: [floatInput('bi1_input', [N, 6, D], rng)],
  }));

// ---- go_backwards / return_sequences=False ----
def('lstm_go_backwards', 'Sequential: LSTM(4, go_backwards=True, return_sequences=True) (unidirectional). Keras semantics: output step k is the state after consuming input steps T-1..T-1-k (the output sequence is NOT re-reversed)',
  (rng) => ({
    model: sequential('lstm_go_backwards', [null, D], [lstm('lstm1', 4, { goBackwards: true })]),
    inputs: [floatInput('lstm1_input', [N, T, D], rng)],
  }));
def('bilstm_last_dense', 'Sequential: Bidirectional(LSTM(5, return_sequences=False), concat) -> Dense(3, linear): sequence classification, output [N,3]',
  (rng) => ({
    model: sequential('bilstm_last_dense', [null, D], [bi('bi1', lstm('lstm1', 5, { returnSequences: false })), dense('out', 3)]),
    inputs: [floatInput('bi1_input', [N, T, D], rng)],
  }));

// ---- Embedding ----
def('embedding_bilstm_dense', 'Functional: Input(int32 ids [N,T]) -> Embedding(12, 4) -> Bidirectional(LSTM(4), concat) -> Dense(3, linear)',
  (rng) => {
    const x = L.input({ name: 'ids', shape: [null], dtype: 'int32' });
    let h = L.embedding({ name: 'emb', inputDim: 12, outputDim: 4 }).apply(x);
    h = bi('bi1', lstm('lstm1', 4)).apply(h);
    h = dense('out', 3).apply(h);
    const ids = [];
    for (let i = 0; i < N * 6; i++) ids.push(rng.int(0, 12));
    return {
      model: tf.model({ name: 'embedding_bilstm_dense', inputs: x, outputs: h }),
      inputs: [{ name: 'ids', dtype: 'int32', shape: [N, 6], data: ids }],
      weightRange: [-1, 1],
    };
  });

// A Sequential model whose explicit InputLayer declares float32 before the Embedding (TF.js and
// Keras cast the ids inside the Embedding): the input still takes one token id per step.
def('embedding_float32_inputlayer_bilstm', 'Sequential: InputLayer(float32 [N,T]) -> Embedding(9, 4) -> Bidirectional(LSTM(3), concat); token ids given as float32 values',
  (rng) => {
    const model = sequential('embedding_float32_inputlayer_bilstm', [null],
      [L.embedding({ name: 'emb', inputDim: 9, outputDim: 4 }), bi('bi1', lstm('lstm1', 3))], 'ids', 'float32');
    const ids = [];
    for (let i = 0; i < N * T; i++) ids.push(rng.int(0, 9));
    return {
      model,
      inputs: [{ name: 'ids', dtype: 'float32', shape: [N, T], data: ids }],
      weightRange: [-1, 1],
    };
  });

// ---- Masking ----
// Sample 0: steps 2 (middle) and 5, 6 (end) are all-zero. Sample 1: steps 0 (start), 3 (middle), 6 (end).
const MASKED_STEPS = [[0, 2], [0, 5], [0, 6], [1, 0], [1, 3], [1, 6]];
def('masking_lstm_seq', 'Sequential: Masking(0.0) -> LSTM(4, return_sequences=True). All-zero steps: sample 0 at t=2,5,6; sample 1 at t=0,3,6. Masked steps repeat the previous output and keep the state (Keras and TF.js agree for a unidirectional RNN: zero_output_for_mask=False)',
  (rng) => ({
    model: sequential('masking_lstm_seq', [null, D], [L.masking({ name: 'mask', maskValue: 0 }), lstm('lstm1', 4)]),
    inputs: [maskedInput('mask_input', [N, T, D], rng, MASKED_STEPS)],
  }));
def('masking_lstm_last', 'Sequential: Masking(0.0) -> LSTM(4, return_sequences=False). Same masked steps as masking_lstm_seq; the output is the state after the last unmasked step',
  (rng) => ({
    model: sequential('masking_lstm_last', [null, D], [L.masking({ name: 'mask', maskValue: 0 }), lstm('lstm1', 4, { returnSequences: false })]),
    inputs: [maskedInput('mask_input', [N, T, D], rng, MASKED_STEPS)],
  }));
def('masking_bilstm_last', 'Sequential: Masking(0.0) -> Bidirectional(LSTM(4, return_sequences=False), concat). Same masked steps; with return_sequences=False Keras and TF.js agree',
  (rng) => ({
    model: sequential('masking_bilstm_last', [null, D], [L.masking({ name: 'mask', maskValue: 0 }), bi('bi1', lstm('lstm1', 4, { returnSequences: false }))]),
    inputs: [maskedInput('mask_input', [N, T, D], rng, MASKED_STEPS)],
  }));
def('tfjs_semantics_masking_bilstm_seq', 'TF.js SEMANTICS, NOT KERAS: Masking(0.0) -> Bidirectional(LSTM(4, return_sequences=True), concat). At masked steps TF.js outputs the previous output of each direction; Keras 2/3 Bidirectional forces zero_output_for_mask=True and outputs zeros there. Unmasked steps agree with Keras',
  (rng) => ({
    model: sequential('tfjs_semantics_masking_bilstm_seq', [null, D], [L.masking({ name: 'mask', maskValue: 0 }), bi('bi1', lstm('lstm1', 4))]),
    inputs: [maskedInput('mask_input', [N, T, D], rng, MASKED_STEPS)],
  }));

// ---- Dropout ----
def('dropout_between', 'Sequential: Bidirectional(LSTM(4, dropout=0.2, recurrent_dropout=0.3)) -> Dropout(0.5) -> Bidirectional(LSTM(3), sum) -> Dropout(0.25) -> Dense(2): all dropout is identity at inference',
  (rng) => ({
    model: sequential('dropout_between', [null, D], [
      bi('bi1', lstm('lstm1', 4, { dropout: 0.2, recurrentDropout: 0.3 })),
      L.dropout({ name: 'drop1', rate: 0.5 }),
      bi('bi2', lstm('lstm2', 3), { mergeMode: 'sum' }),
      L.dropout({ name: 'drop2', rate: 0.25 }),
      dense('out', 2),
    ]),
    inputs: [floatInput('bi1_input', [N, T, D], rng)],
  }));

// ---- return_state ----
def('bilstm_return_state', 'Functional: Bidirectional(LSTM(4, return_sequences=True, return_state=True), concat); outputs [seq [N,T,8], h_fwd, c_fwd, h_bwd, c_bwd]',
  (rng) => {
    const x = L.input({ name: 'x', shape: [null, D] });
    const outs = bi('bi1', lstm('lstm1', 4, { returnState: true })).apply(x);
    return { model: tf.model({ name: 'bilstm_return_state', inputs: x, outputs: outs }), inputs: [floatInput('x', [N, T, D], rng)] };
  });
def('bigru_return_state', 'Functional: Bidirectional(GRU(4, reset_after=False, return_sequences=False, return_state=True), concat); outputs [last [N,8], h_fwd, h_bwd]',
  (rng) => {
    const x = L.input({ name: 'x', shape: [null, D] });
    const outs = bi('bi1', gru('gru1', 4, { returnSequences: false, returnState: true })).apply(x);
    return { model: tf.model({ name: 'bigru_return_state', inputs: x, outputs: outs }), inputs: [floatInput('x', [N, T, D], rng)] };
  });

// ---- initial_state ----
def('bilstm_initial_state', 'Functional: inputs [x, h_f, c_f, h_b, c_b]; Bidirectional(LSTM(4, return_sequences=True), concat) applied with initial_state=[h_f, c_f, h_b, c_b] (first half to the forward layer, second half to the backward layer)',
  (rng) => {
    const x = L.input({ name: 'x', shape: [null, D] });
    const st = ['h_f', 'c_f', 'h_b', 'c_b'].map((n) => L.input({ name: n, shape: [4] }));
    const y = bi('bi1', lstm('lstm1', 4)).apply(x, { initialState: st });
    return {
      model: tf.model({ name: 'bilstm_initial_state', inputs: [x, ...st], outputs: y }),
      inputs: [floatInput('x', [N, T, D], rng), ...['h_f', 'c_f', 'h_b', 'c_b'].map((n) => floatInput(n, [N, 4], rng))],
    };
  });
def('bigru_initial_state', 'Functional: inputs [x, h_f, h_b]; Bidirectional(GRU(4, reset_after=False, return_sequences=True), sum) applied with initial_state=[h_f, h_b]',
  (rng) => {
    const x = L.input({ name: 'x', shape: [null, D] });
    const st = ['h_f', 'h_b'].map((n) => L.input({ name: n, shape: [4] }));
    const y = bi('bi1', gru('gru1', 4), { mergeMode: 'sum' }).apply(x, { initialState: st });
    return {
      model: tf.model({ name: 'bigru_initial_state', inputs: [x, ...st], outputs: y }),
      inputs: [floatInput('x', [N, T, D], rng), ...['h_f', 'h_b'].map((n) => floatInput(n, [N, 4], rng))],
    };
  });

// ---- linear functional model ----
def('functional_linear', 'Functional: Input -> Bidirectional(LSTM(4), concat) -> Dropout(0.1) -> TimeDistributed(Dense(5, relu)) -> Dense(3, linear) -> Activation(tanh)',
  (rng) => {
    const x = L.input({ name: 'x', shape: [null, D] });
    let h = bi('bi1', lstm('lstm1', 4)).apply(x);
    h = L.dropout({ name: 'drop', rate: 0.1 }).apply(h);
    h = L.timeDistributed({ name: 'td', layer: dense('td_dense', 5, 'relu') }).apply(h);
    h = dense('out', 3).apply(h);
    h = L.activation({ name: 'act', activation: 'tanh' }).apply(h);
    return { model: tf.model({ name: 'functional_linear', inputs: x, outputs: h }), inputs: [floatInput('x', [N, T, D], rng)] };
  });

// Expected output shapes (Keras semantics), checked against what TF.js produced.
const EXPECTED_SHAPES = {
  bilstm_concat: [[N, T, 10]], bilstm_sum: [[N, T, 5]], bilstm_mul: [[N, T, 5]], bilstm_ave: [[N, T, 5]],
  bilstm_none: [[N, T, 5], [N, T, 5]],
  bilstm_hard_sigmoid_last: [[N, 3]],
  bilstm_inner_go_backwards: [[N, T, 8]],
  bigru_concat: [[N, T, 8]], gru_hard_sigmoid: [[N, T, 5]],
  bisimplernn_tanh: [[N, T, 8]], bisimplernn_relu: [[N, T, 8]],
  stacked_bilstm_bigru_td_softmax: [[N, T, 3]], stacked_birnn_bilstm_dense3d: [[N, T, 2]],
  lstm_relu_sigmoid: [[N, T, 5]], lstm_relu_hard_sigmoid: [[N, T, 5]],
  activation_layer: [[N, 6, 5]],
  lstm_go_backwards: [[N, T, 4]], bilstm_last_dense: [[N, 3]],
  embedding_bilstm_dense: [[N, 6, 3]],
  embedding_float32_inputlayer_bilstm: [[N, T, 6]],
  masking_lstm_seq: [[N, T, 4]], masking_lstm_last: [[N, 4]], masking_bilstm_last: [[N, 8]],
  tfjs_semantics_masking_bilstm_seq: [[N, T, 8]],
  dropout_between: [[N, T, 2]],
  bilstm_return_state: [[N, T, 8], [N, 4], [N, 4], [N, 4], [N, 4]],
  bigru_return_state: [[N, 8], [N, 4], [N, 4]],
  bilstm_initial_state: [[N, T, 8]], bigru_initial_state: [[N, T, 4]],
  functional_linear: [[N, T, 3]],
};
for (const act of ['linear', 'relu', 'elu', 'selu', 'softsign', 'softplus', 'swish', 'softmax', 'sigmoid', 'tanh']) {
  EXPECTED_SHAPES[`head_${act}`] = [[N, 6, 4]];
}

async function generateSynthetic(report) {
  for (const c of SYNTHETIC) {
    if (c.skip) {
      writeCase({ name: c.name, description: c.description, skip: c.skip });
      report.skipped.push([c.name, c.skip]);
      continue;
    }
    const rng = makeRng(c.name);
    const built = c.build(rng);
    const { model, inputs } = built;
    const [lo, hi] = built.weightRange ?? [-0.5, 0.5];
    randomizeWeights(model, rng, lo, hi);
    const modelInputNames = model.inputs.map((t) => t.sourceLayer.name);
    if (JSON.stringify(modelInputNames) !== JSON.stringify(inputs.map((i) => i.name))) {
      throw new Error(`${c.name}: input names ${inputs.map((i) => i.name)} != model inputs ${modelInputNames}`);
    }
    const artifacts = await saveLayersModel(model, c.name);
    const outputs = predict(model, inputs);
    const exp = EXPECTED_SHAPES[c.name];
    if (!exp) throw new Error(`no expected shape for ${c.name}`);
    const got = outputs.map((o) => o.shape);
    if (JSON.stringify(got) !== JSON.stringify(exp)) {
      throw new Error(`${c.name}: output shapes ${JSON.stringify(got)} != expected ${JSON.stringify(exp)}`);
    }
    await reloadCheck(c.name, artifacts, inputs, outputs);
    writeCase({
      name: c.name,
      description: c.description,
      model: `../models/${c.name}/model.json`,
      inputs,
      outputs,
    });
    report.synthetic.push(c.name);
    model.dispose();
  }
}

// --------------------------------------------------------------------------------------------
// Part 2: Keras-written conformance .h5 files
// --------------------------------------------------------------------------------------------

function attrValue(obj, name) {
  const a = obj.attrs[name];
  if (a === undefined) return undefined;
  return a.value;
}

function listOfStrings(v) {
  if (v == null) return [];
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string') return [v];
  // h5wasm returns {} for an empty array attribute
  return [];
}

function readDataset(group, name) {
  const ds = group.get(name);
  if (!ds || ds.type !== 'Dataset') throw new Error(`missing dataset ${name}`);
  const v = ds.value;
  return { shape: ds.shape.slice(), data: v instanceof Float32Array ? v : Float32Array.from(v) };
}

// Reads {layerName: [{name, shape, data}]} from model_weights/<layer>/ using the weight_names
// attribute of each layer group.
function readKerasWeights(h5) {
  const mw = h5.get('model_weights');
  if (!mw) throw new Error('no model_weights group');
  const out = {};
  for (const layerName of listOfStrings(attrValue(mw, 'layer_names'))) {
    const g = mw.get(layerName);
    const names = listOfStrings(attrValue(g, 'weight_names'));
    out[layerName] = names.map((n) => ({ name: n, ...readDataset(g, n) }));
  }
  return out;
}

// A weight's role inside its layer, from its name: "<param>" or "forward/<param>" / "backward/<param>".
// Works for Keras-2 names ("bidirectional_1/forward_lstm_1/kernel:0", "dense_1/bias"),
// and for TF.js LayerVariable.originalName ("bi1/backward_lstm1/recurrent_kernel").
function weightRole(name) {
  const parts = name.replace(/:\d+$/, '').split('/');
  const param = parts[parts.length - 1];
  let dir = '';
  for (const p of parts.slice(1, -1)) {
    if (p.startsWith('forward_')) dir = 'forward/';
    else if (p.startsWith('backward_')) dir = 'backward/';
  }
  return dir + param;
}

// Set each TF.js layer's weights from the Keras weights of the same layer, matched by role name.
function assignWeightsByName(model, kerasWeights) {
  const used = new Set();
  for (const layer of model.layers) {
    const vars = layer.weights;
    const kws = kerasWeights[layer.name] ?? [];
    if (vars.length === 0) {
      if (kws.length > 0) throw new Error(`layer ${layer.name} has no TF.js weights but ${kws.length} Keras weights`);
      continue;
    }
    if (kws.length !== vars.length) {
      throw new Error(`layer ${layer.name}: TF.js expects ${vars.length} weights, file has ${kws.length}`);
    }
    const tensors = vars.map((v) => {
      const role = weightRole(v.originalName);
      const hits = kws.filter((w) => weightRole(w.name) === role);
      if (hits.length !== 1) throw new Error(`layer ${layer.name}: ${hits.length} Keras weights for role ${role} (${v.originalName})`);
      const w = hits[0];
      if (JSON.stringify(w.shape) !== JSON.stringify(v.shape)) {
        throw new Error(`layer ${layer.name}: weight ${w.name} shape ${w.shape} != TF.js ${v.shape}`);
      }
      used.add(`${layer.name}::${w.name}`);
      return tf.tensor(w.data, w.shape, 'float32');
    });
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
  for (const [ln, ws] of Object.entries(kerasWeights)) {
    for (const w of ws) if (!used.has(`${ln}::${w.name}`)) throw new Error(`Keras weight ${ln}/${w.name} not used`);
  }
}

// ---------------- Keras 1 -> Keras 2 translation (config and weights) ----------------
//
// TF.js can only parse Keras-2 style configs. Keras 1.x files (keras_version 1.x) use
// output_dim / inner_activation / per-gate weights / TimeDistributedDense / consume_less.
// This translation is purely a renaming plus LSTM gate concatenation; numerics are unchanged:
//   * LSTM/GRU/SimpleRNN: units = output_dim, recurrent_activation = inner_activation,
//     dropout_W/dropout_U -> dropout/recurrent_dropout (inference no-ops), consume_less dropped
//     (cpu/mem/gpu are the same maths), init/inner_init/forget_bias_init/regularizers dropped
//     (initialisation only; the stored weights are loaded afterwards).
//   * LSTM weights: W_i,W_f,W_c,W_o -> kernel (columns concatenated in Keras-2 order i,f,c,o),
//     U_* -> recurrent_kernel, b_* -> bias. Keras 1 lists them as i,c,f,o: matched BY NAME.
//   * SimpleRNN weights: W -> kernel, U -> recurrent_kernel, b -> bias.
//   * Bidirectional: same, per forward_/backward_ prefix of the weight names.
//   * Embedding: W -> embeddings; input_dtype dropped (layer dtype float32 as in Keras 2; ids are cast).
//   * Dense: output_dim -> units, bias -> use_bias; W -> kernel, b -> bias.
//   * TimeDistributedDense(output_dim, activation) -> TimeDistributed(Dense(units, activation)),
//     W -> kernel, b -> bias (Keras 1 applies the same x·W+b at every step).
//   * Dropout: p -> rate.

function k1Common(c) {
  const o = { name: c.name, trainable: c.trainable ?? true };
  if (c.batch_input_shape) o.batch_input_shape = c.batch_input_shape;
  else if (c.input_dim != null && c.input_length !== undefined && c.__first) o.batch_input_shape = [null, c.input_length, c.input_dim];
  if (c.input_dtype) o.dtype = c.input_dtype;
  return o;
}

function k1RecurrentConfig(className, c) {
  const o = {
    ...k1Common(c),
    units: c.output_dim,
    activation: c.activation,
    use_bias: true,
    return_sequences: c.return_sequences,
    go_backwards: c.go_backwards,
    stateful: c.stateful,
    unroll: c.unroll,
    dropout: c.dropout_W ?? 0,
    recurrent_dropout: c.dropout_U ?? 0,
  };
  if (className !== 'SimpleRNN') o.recurrent_activation = c.inner_activation;
  return o;
}

function translateKeras1Layer(layer, isFirst) {
  const cls = layer.class_name;
  const c = { ...layer.config, __first: isFirst };
  switch (cls) {
    case 'LSTM':
    case 'GRU':
    case 'SimpleRNN':
      return { class_name: cls, config: k1RecurrentConfig(cls, c) };
    case 'Bidirectional': {
      const inner = translateKeras1Layer(layer.config.layer, false);
      return { class_name: 'Bidirectional', config: { ...k1Common(c), merge_mode: c.merge_mode, layer: inner } };
    }
    case 'Embedding': {
      const o = { ...k1Common(c), input_dim: c.input_dim, output_dim: c.output_dim, input_length: c.input_length, mask_zero: c.mask_zero ?? false };
      if (!o.batch_input_shape) o.batch_input_shape = [null, c.input_length ?? null];
      // Keras 1 input_dtype="int32" describes the ids; in TF.js a layer dtype of int32 would make the
      // embeddings matrix int32. Keras 2 saves dtype="float32" here, so do the same (ids are cast inside).
      delete o.dtype;
      return { class_name: 'Embedding', config: o };
    }
    case 'Dense':
      return { class_name: 'Dense', config: { ...k1Common(c), units: c.output_dim, activation: c.activation, use_bias: c.bias ?? true } };
    case 'TimeDistributedDense':
      return {
        class_name: 'TimeDistributed',
        config: {
          ...k1Common(c),
          layer: { class_name: 'Dense', config: { name: `${c.name}_dense`, units: c.output_dim, activation: c.activation, use_bias: c.bias ?? true } },
        },
      };
    case 'Activation':
      return { class_name: 'Activation', config: { ...k1Common(c), activation: c.activation } };
    case 'Dropout':
      return { class_name: 'Dropout', config: { ...k1Common(c), rate: c.p } };
    default:
      throw new Error(`Keras 1 layer ${cls} not handled by the translator`);
  }
}

function translateKeras1Config(modelConfig) {
  if (modelConfig.class_name !== 'Sequential' || !Array.isArray(modelConfig.config)) {
    throw new Error(`Keras 1 ${modelConfig.class_name} config not handled by the translator`);
  }
  return { class_name: 'Sequential', config: modelConfig.config.map((l, i) => translateKeras1Layer(l, i === 0)) };
}

// Keras 1 weight name -> {dir, param, gate}:  "forward_lstm_1_W_i:0" -> {dir:'forward/', param:'W', gate:'i'}
function parseKeras1WeightName(name) {
  const m = /^(?:(forward|backward)_)?.*?_(W|U|b)(?:_([ifcozrh]))?(?::\d+)?$/.exec(name);
  if (!m) throw new Error(`unrecognised Keras 1 weight name ${name}`);
  return { dir: m[1] ? m[1] + '/' : '', param: m[2], gate: m[3] ?? null };
}

function concatColumns(mats) {
  // mats: [{shape:[r,c] or [c], data}] -> concatenated along the last axis
  const rank = mats[0].shape.length;
  if (rank === 1) {
    const total = mats.reduce((a, m) => a + m.shape[0], 0);
    const out = new Float32Array(total);
    let off = 0;
    for (const m of mats) { out.set(m.data, off); off += m.shape[0]; }
    return { shape: [total], data: out };
  }
  const rows = mats[0].shape[0];
  const cols = mats.map((m) => m.shape[1]);
  const totalCols = cols.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows * totalCols);
  for (let r = 0; r < rows; r++) {
    let off = 0;
    mats.forEach((m, k) => {
      out.set(m.data.subarray(r * cols[k], (r + 1) * cols[k]), r * totalCols + off);
      off += cols[k];
    });
  }
  return { shape: [rows, totalCols], data: out };
}

// Translate one Keras-1 layer's weights into Keras-2 style names "<layer>/<dir>_x/<param>".
function translateKeras1Weights(layerName, k1ClassName, innerClassName, weights) {
  const PARAM = { W: 'kernel', U: 'recurrent_kernel', b: 'bias' };
  const cls = innerClassName ?? k1ClassName;
  const byDir = {};
  for (const w of weights) {
    const p = parseKeras1WeightName(w.name);
    (byDir[p.dir] ??= []).push({ ...w, ...p });
  }
  const out = [];
  for (const [dir, ws] of Object.entries(byDir)) {
    const prefix = dir ? `${layerName}/${dir.slice(0, -1)}_x/` : `${layerName}/`;
    if (cls === 'Embedding') {
      if (ws.length !== 1 || ws[0].param !== 'W') throw new Error(`Embedding ${layerName}: unexpected weights`);
      out.push({ name: prefix + 'embeddings', shape: ws[0].shape, data: ws[0].data });
      continue;
    }
    const gates = cls === 'LSTM' ? ['i', 'f', 'c', 'o'] : cls === 'GRU' ? ['z', 'r', 'h'] : null;
    for (const param of ['W', 'U', 'b']) {
      const ps = ws.filter((w) => w.param === param);
      if (ps.length === 0) continue;
      if (gates) {
        const mats = gates.map((g) => {
          const hit = ps.filter((w) => w.gate === g);
          if (hit.length !== 1) throw new Error(`${layerName}: expected one ${param}_${g}, found ${hit.length}`);
          return hit[0];
        });
        out.push({ name: prefix + PARAM[param], ...concatColumns(mats) });
      } else {
        if (ps.length !== 1 || ps[0].gate) throw new Error(`${layerName}: unexpected ${param} weights`);
        out.push({ name: prefix + PARAM[param], shape: ps[0].shape, data: ps[0].data });
      }
    }
  }
  return out;
}

function translateKeras1AllWeights(k1Config, kerasWeights) {
  const out = {};
  for (const l of k1Config.config) {
    const name = l.config.name;
    const ws = kerasWeights[name] ?? [];
    if (ws.length === 0) { out[name] = []; continue; }
    const inner = l.class_name === 'Bidirectional' ? l.config.layer.class_name : null;
    const cls = l.class_name === 'TimeDistributedDense' ? 'Dense' : l.class_name;
    out[name] = translateKeras1Weights(name, cls, inner, ws);
  }
  return out;
}

// ---------------- Keras 2 config fix-ups for TF.js ----------------
// Only shape/bookkeeping changes, never semantics:
//   * batch dimension of every batch_input_shape set to null (the files were saved with fixed
//     batch sizes such as 25 although stateful=False; the goldens use N=2).
function fixupKeras2Config(modelConfig) {
  const cfg = JSON.parse(JSON.stringify(modelConfig));
  const visit = (o) => {
    if (Array.isArray(o)) { o.forEach(visit); return; }
    if (o && typeof o === 'object') {
      if (Array.isArray(o.batch_input_shape)) o.batch_input_shape[0] = null;
      Object.values(o).forEach(visit);
    }
  };
  visit(cfg);
  return cfg;
}

function layerList(modelConfig) {
  return Array.isArray(modelConfig.config) ? modelConfig.config : modelConfig.config.layers;
}

function describeLayer(cls, c) {
  const units = c.units ?? c.output_dim;
  switch (cls) {
    case 'LSTM':
    case 'GRU':
    case 'SimpleRNN': {
      const parts = [`${units}`, `act=${c.activation}`];
      const ract = c.recurrent_activation ?? c.inner_activation;
      if (cls !== 'SimpleRNN' && ract) parts.push(`ract=${ract}`);
      if (cls === 'GRU' && c.reset_after !== undefined) parts.push(`reset_after=${c.reset_after}`);
      parts.push(`rs=${c.return_sequences ? 'T' : 'F'}`);
      if (c.go_backwards) parts.push('gb=T');
      return `${cls}(${parts.join(', ')})`;
    }
    case 'Bidirectional':
      return `Bidirectional(${describeLayer(c.layer.class_name, c.layer.config)}, merge_mode=${c.merge_mode})`;
    case 'TimeDistributed':
      return `TimeDistributed(${describeLayer(c.layer.class_name, c.layer.config)})`;
    case 'Dense':
    case 'TimeDistributedDense':
      return `${cls}(${units}, ${c.activation})`;
    case 'Activation':
      return `Activation(${c.activation})`;
    case 'Embedding':
      return `Embedding(${c.input_dim}->${c.output_dim}${c.mask_zero ? ', mask_zero' : ''})`;
    case 'Masking':
      return `Masking(${c.mask_value})`;
    case 'Dropout':
      return `Dropout(${c.rate ?? c.p})`;
    case 'RepeatVector':
      return `RepeatVector(${c.n})`;
    case 'Reshape':
      return `Reshape(${JSON.stringify(c.target_shape)})`;
    default:
      return cls;
  }
}

function describeLayers(modelConfig) {
  return layerList(modelConfig)
    .filter((l) => l.class_name !== 'InputLayer')
    .map((l) => describeLayer(l.class_name, l.config))
    .join(' -> ');
}

async function buildKerasModel(h5) {
  const kerasVersion = String(attrValue(h5, 'keras_version') ?? '');
  const rawConfig = JSON.parse(attrValue(h5, 'model_config'));
  let config;
  let weights = readKerasWeights(h5);
  const notes = [];
  if (kerasVersion.startsWith('1.')) {
    config = translateKeras1Config(rawConfig);
    weights = translateKeras1AllWeights(rawConfig, weights);
    notes.push('Keras 1 config and weights translated to Keras 2 (see generate.mjs translateKeras1*)');
  } else {
    config = rawConfig;
  }
  config = fixupKeras2Config(config);
  const model = await tf.models.modelFromJSON({ modelTopology: config });
  assignWeightsByName(model, weights);
  return { model, kerasVersion, rawConfig, notes };
}

function listH5(dir, rel = '') {
  const out = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listH5(dir, r));
    else if (e.name.endsWith('.h5')) out.push(r);
  }
  return out;
}

function conformanceInputs(model, rawConfig, rng) {
  const layers = layerList(rawConfig).filter((l) => l.class_name !== 'InputLayer');
  const first = layers[0];
  return model.inputs.map((inp, k) => {
    const name = inp.sourceLayer.name; // the InputLayer's name (Sequential: "<first layer>_input")
    const shape = inp.shape.slice();
    shape[0] = N;
    if (shape.length >= 2 && shape[1] == null) shape[1] = 5;
    if (shape.some((d) => d == null)) throw new Error(`unresolved input shape ${JSON.stringify(inp.shape)}`);
    if (first.class_name === 'Embedding') {
      const vocab = first.config.input_dim;
      const data = [];
      for (let i = 0; i < prod(shape); i++) data.push(rng.int(0, vocab));
      return { name, dtype: 'int32', shape, data };
    }
    const spec = floatInput(name, shape, rng);
    if (first.class_name === 'Masking' && shape.length === 3) {
      // Put whole masked steps (value == mask_value in every feature) in the middle and at the end.
      const mv = first.config.mask_value;
      const [, Tn, Dn] = shape;
      const steps = [[0, Math.floor(Tn / 2)], [0, Tn - 1], [0, Tn - 2], [1, 1], [1, Tn - 1]];
      for (const [n, t] of steps) for (let d = 0; d < Dn; d++) spec.data[(n * Tn + t) * Dn + d] = mv;
    }
    return spec;
  });
}

function hasConvLstm(modelConfig) {
  return JSON.stringify(modelConfig).includes('"ConvLSTM2D"');
}

async function generateConformance(report) {
  if (!fs.existsSync(KERAS_DIR)) throw new Error(`conformance dir not found: ${KERAS_DIR} (set BISTREAM_SHARED_DIR)`);
  const files = listH5(KERAS_DIR);
  for (const rel of files) {
    const h5 = new h5wasm.File(path.join(KERAS_DIR, rel), 'r');
    try {
      const mc = attrValue(h5, 'model_config');
      if (mc === undefined) { report.noConfig.push(rel); continue; }
      const caseName = 'conformance__' + rel.replace(/\.h5$/, '').split('/').join('__');
      const rawConfig = JSON.parse(mc);
      const kv = String(attrValue(h5, 'keras_version') ?? '?');
      const baseDesc = `Keras ${kv} file ${rel}: ${describeLayers(rawConfig)}`;
      const modelRef = `shared:conformance/keras/${rel}`;
      if (hasConvLstm(rawConfig)) {
        report.convSkipped.push(rel);
        continue; // ConvLSTM2D models are out of scope: listed in README, no case file
      }
      let built;
      try {
        built = await buildKerasModel(h5);
      } catch (e) {
        const reason = `TF.js ${tf.version.tfjs} could not build this model: ${e.message}`;
        writeCase({ name: caseName, description: baseDesc, model: modelRef, skip: reason });
        report.skipped.push([caseName, reason]);
        continue;
      }
      const rng = makeRng(caseName);
      const inputs = conformanceInputs(built.model, rawConfig, rng);
      const outputs = predict(built.model, inputs);
      if (built.kerasVersion.startsWith('1.')) {
        const ref = keras1Reference(h5, inputs);
        const got = outputs[0].data;
        if (ref.length !== got.length) throw new Error(`${caseName}: reference size ${ref.length} != ${got.length}`);
        let md = 0;
        for (let j = 0; j < ref.length; j++) md = Math.max(md, Math.abs(ref[j] - got[j]));
        report.sanity.push(`${rel} (Keras 1, translated) vs independent float64 JS reference on the raw per-gate tensors: max |diff| = ${md.toExponential(3)}`);
        if (md > 1e-5) throw new Error(`${caseName}: Keras-1 translation check failed (max diff ${md})`);
      }
      const extra = [];
      if (built.notes.length) extra.push(...built.notes);
      if (layerList(rawConfig)[0]?.class_name === 'Masking' || layerList(rawConfig).some((l) => l.class_name === 'Masking')) {
        extra.push('input has whole steps equal to mask_value');
      }
      writeCase({
        name: caseName,
        description: baseDesc + (extra.length ? ` [${extra.join('; ')}]` : ''),
        model: modelRef,
        inputs,
        outputs,
      });
      report.conformance.push(caseName);
      built.model.dispose();
    } finally {
      h5.close();
    }
  }
}

// ---------------- Sanity checks against stored Keras predictions (not emitted) ----------------

async function sanityChecks(report) {
  for (const rel of listH5(KERAS_DIR).filter((r) => r.endsWith('_inputs_and_outputs.h5'))) {
    const io = new h5wasm.File(path.join(KERAS_DIR, rel), 'r');
    try {
      if (!io.get('predictions')) { report.sanity.push(`${rel}: no stored predictions (labels only) - not checked`); continue; }
      const inNames = JSON.parse(attrValue(io, 'inputs')).inputs;
      const outNames = JSON.parse(attrValue(io, 'outputs')).outputs;
      const modelRel = rel.replace('_inputs_and_outputs.h5', '_model.h5');
      const mh = new h5wasm.File(path.join(KERAS_DIR, modelRel), 'r');
      let built;
      try { built = await buildKerasModel(mh); } finally { mh.close(); }
      const xs = inNames.map((n) => { const d = readDataset(io.get('inputs'), n); return tf.tensor(d.data, d.shape); });
      let ys = built.model.predict(xs.length === 1 ? xs[0] : xs);
      if (!Array.isArray(ys)) ys = [ys];
      let maxDiff = 0, maxRef = 0, count = 0;
      outNames.forEach((n, i) => {
        const ref = readDataset(io.get('predictions'), n).data;
        const got = ys[i].dataSync();
        if (ref.length !== got.length) throw new Error(`${rel}: size mismatch`);
        count += ref.length;
        for (let j = 0; j < ref.length; j++) {
          maxDiff = Math.max(maxDiff, Math.abs(ref[j] - got[j]));
          maxRef = Math.max(maxRef, Math.abs(ref[j]));
        }
      });
      report.sanity.push(`${modelRel} vs stored Keras predictions in ${path.basename(rel)} (${count} values, max |ref| = ${maxRef.toFixed(3)}): max |diff| = ${maxDiff.toExponential(3)}`);
      tf.dispose([...xs, ...ys]);
      built.model.dispose();
    } finally {
      io.close();
    }
  }
  // fullconfigs/lstm: Keras 2.0.8 (Theano) config.json + weights-only .h5 + predictions.npy over T=4 steps.
  const fc = path.join(KERAS_DIR, 'fullconfigs', 'lstm');
  if (fs.existsSync(path.join(fc, 'predictions.npy'))) {
    const config = fixupKeras2Config(JSON.parse(fs.readFileSync(path.join(fc, 'lstm_th_keras_2_config.json'), 'utf8')));
    const model = await tf.models.modelFromJSON({ modelTopology: config });
    const wh = new h5wasm.File(path.join(fc, 'lstm_th_keras_2_weights.h5'), 'r');
    const weights = {};
    for (const ln of listOfStrings(attrValue(wh, 'layer_names'))) {
      const g = wh.get(ln);
      weights[ln] = listOfStrings(attrValue(g, 'weight_names')).map((n) => ({ name: n, ...readDataset(g, n) }));
    }
    wh.close();
    assignWeightsByName(model, weights);
    const ref = readNpyFloat32(path.join(fc, 'predictions.npy'));
    let maxDiff = 0;
    const rows = [];
    for (let i = 0; i < ref.length; i++) {
      const lines = fs.readFileSync(path.join(fc, 'data', 'sequences', `${i}.csv`), 'utf8').trim().split(/\r?\n/);
      for (const line of lines) rows.push(...line.split(';').slice(0, 12).map(Number));
    }
    const x = tf.tensor(Float32Array.from(rows), [ref.length, rows.length / ref.length / 12, 12]);
    const y = model.predict(x).dataSync();
    let maxRef = 0;
    for (let i = 0; i < ref.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(ref[i] - y[i]));
      maxRef = Math.max(maxRef, Math.abs(ref[i]));
    }
    report.sanity.push(`fullconfigs/lstm (Keras 2.0.8 Theano config.json + weights.h5, ${ref.length} sequences of T=4, max |ref| = ${maxRef.toFixed(3)}) vs predictions.npy: max |diff| = ${maxDiff.toExponential(3)}`);
    x.dispose();
    model.dispose();
  }
}

// Independent float64 reference for the Keras-1 files: runs the stored per-gate Keras-1 tensors
// (W_x/U_x/b_x, looked up by name, no translation involved) through a plain JS LSTM/SimpleRNN and
// compares with the TF.js outputs written to the case file. This checks the Keras-1 translation.
function keras1Reference(h5, inputs) {
  const cfg = JSON.parse(attrValue(h5, 'model_config'));
  const weights = readKerasWeights(h5);
  // group: weight group (layer) name; base: the (inner) layer name used in the weight names.
  const get = (group, suffix, prefix = '', base = group) => {
    const hit = weights[group].filter((w) => w.name.replace(/:\d+$/, '') === `${prefix}${base}_${suffix}`);
    if (hit.length !== 1) throw new Error(`reference: ${group} ${prefix}${base}_${suffix}: ${hit.length} hits`);
    return { shape: hit[0].shape, data: Float64Array.from(hit[0].data) };
  };
  const act = (name) => ({
    tanh: Math.tanh, linear: (x) => x, relu: (x) => Math.max(0, x),
    sigmoid: (x) => 1 / (1 + Math.exp(-x)), hard_sigmoid: (x) => Math.min(1, Math.max(0, 0.2 * x + 0.5)),
  }[name] ?? (() => { throw new Error(`reference: activation ${name}`); })());
  const affine = (x, W, b) => { // x: [in], W: [in,out]
    const [nin, nout] = W.shape;
    const y = new Float64Array(nout);
    for (let j = 0; j < nout; j++) {
      let acc = b ? b.data[j] : 0;
      for (let i = 0; i < nin; i++) acc += x[i] * W.data[i * nout + j];
      y[j] = acc;
    }
    return y;
  };
  const add = (a, b) => a.map((v, i) => v + b[i]);
  const runRnn = (cls, lc, group, prefix, xs) => { // xs: array over time of Float64Array
    const g = (n) => get(group, n, prefix, lc.name);
    const u = lc.output_dim;
    const f = act(lc.activation), ra = act(lc.inner_activation ?? 'hard_sigmoid');
    let h = new Float64Array(u), c = new Float64Array(u);
    const seq = lc.go_backwards ? xs.slice().reverse() : xs;
    const outs = [];
    for (const x of seq) {
      if (cls === 'SimpleRNN') {
        h = add(affine(x, g('W'), g('b')), affine(h, g('U'), null)).map(f);
      } else {
        const gate = (k, fn) => add(affine(x, g(`W_${k}`), g(`b_${k}`)), affine(h, g(`U_${k}`), null)).map(fn);
        const i = gate('i', ra), fg = gate('f', ra), cc = gate('c', f), o = gate('o', ra);
        c = c.map((cv, j) => fg[j] * cv + i[j] * cc[j]);
        h = c.map((cv, j) => o[j] * f(cv));
      }
      outs.push(h);
    }
    return { seq: outs, last: h };
  };
  // inputs[0] -> list of samples, each a list over time of Float64Array
  const spec = inputs[0];
  let batch = [];
  const [n, t] = spec.shape;
  const dfeat = spec.shape[2] ?? 1;
  for (let s = 0; s < n; s++) {
    const steps = [];
    for (let k = 0; k < t; k++) steps.push(Float64Array.from(spec.data.slice((s * t + k) * dfeat, (s * t + k + 1) * dfeat)));
    batch.push(steps);
  }
  let isSeq = true;
  for (const l of cfg.config) {
    const lc = l.config;
    const name = lc.name;
    if (l.class_name === 'Embedding') {
      const W = get(name, 'W');
      batch = batch.map((steps) => steps.map((id) => W.data.slice(id[0] * W.shape[1], (id[0] + 1) * W.shape[1])));
    } else if (l.class_name === 'LSTM' || l.class_name === 'SimpleRNN') {
      batch = batch.map((steps) => { const r = runRnn(l.class_name, lc, name, '', steps); return lc.return_sequences ? r.seq : [r.last]; });
      isSeq = lc.return_sequences;
    } else if (l.class_name === 'Bidirectional') {
      const ic = lc.layer.config;
      batch = batch.map((steps) => {
        const fw = runRnn(lc.layer.class_name, ic, name, 'forward_', steps);
        const bw = runRnn(lc.layer.class_name, { ...ic, go_backwards: !ic.go_backwards }, name, 'backward_', steps);
        if (lc.merge_mode !== 'concat') throw new Error('reference: merge_mode');
        if (!ic.return_sequences) return [Float64Array.from([...fw.last, ...bw.last])];
        const bseq = bw.seq.slice().reverse();
        return fw.seq.map((v, k) => Float64Array.from([...v, ...bseq[k]]));
      });
      isSeq = ic.return_sequences;
    } else if (l.class_name === 'TimeDistributedDense' || l.class_name === 'Dense') {
      const W = get(name, 'W'), b = get(name, 'b');
      const fa = act(lc.activation);
      batch = batch.map((steps) => steps.map((x) => affine(x, W, b).map(fa)));
    } else if (l.class_name === 'Activation' && lc.activation === 'softmax') {
      batch = batch.map((steps) => steps.map((x) => { const m = Math.max(...x); const e = x.map((v) => Math.exp(v - m)); const z = e.reduce((a, b) => a + b, 0); return e.map((v) => v / z); }));
    } else if (l.class_name === 'Activation') {
      const fa = act(lc.activation);
      batch = batch.map((steps) => steps.map((x) => x.map(fa)));
    } else {
      throw new Error(`reference: layer ${l.class_name}`);
    }
  }
  const flat = [];
  for (const steps of batch) for (const x of (isSeq ? steps : [steps[steps.length - 1]])) flat.push(...x);
  return flat;
}

function readNpyFloat32(p) {
  const buf = fs.readFileSync(p);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error('not an npy file');
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  if (!header.includes("'<f4'")) throw new Error(`unsupported npy dtype: ${header}`);
  const off = hstart + hlen;
  const n = (buf.length - off) / 4;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(off + 4 * i);
  return out;
}

// --------------------------------------------------------------------------------------------

async function main() {
  await tf.setBackend('cpu');
  await tf.ready();
  await h5wasm.ready;
  fs.rmSync(CASES_DIR, { recursive: true, force: true });
  fs.rmSync(MODELS_DIR, { recursive: true, force: true });
  const report = { synthetic: [], conformance: [], skipped: [], convSkipped: [], noConfig: [], sanity: [] };
  await generateSynthetic(report);
  await generateConformance(report);
  await sanityChecks(report);
  console.log(`TF.js ${tf.version.tfjs} backend=${tf.getBackend()}`);
  console.log(`synthetic cases: ${report.synthetic.length}`);
  console.log(`conformance cases: ${report.conformance.length}`);
  console.log(`skip cases written: ${report.skipped.length}`);
  for (const [n, r] of report.skipped) console.log(`  SKIP ${n}: ${r}`);
  console.log(`ConvLSTM2D files not emitted: ${report.convSkipped.length}: ${report.convSkipped.join(' ')}`);
  console.log(`.h5 files without model_config (not models): ${report.noConfig.length}: ${report.noConfig.join(' ')}`);
  console.log('sanity checks:');
  for (const s of report.sanity) console.log('  ' + s);
}

await main();
