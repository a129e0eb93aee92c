// Generates TensorFlow.js-computed golden fixtures for the BiStream STREAMING engine
// (docs/architecture.md, "Streaming modes": modes `stateful`, `lookahead` and `context`).
//
//   cd model-core/src/test/resources/golden/tfjs && npm ci && node generate_streaming.mjs
//
// Writes streaming-models/<model>/model.json + weights.bin (plain, non-stateful TF.js layers models)
// and streaming/<case>.json (input [N,T,D], chunk C, lookahead R, left context L, expected output).
// It only deletes and rewrites those two folders. See the "Streaming fixtures" section of README.md.
//
// Conventions are those of generate.mjs: mulberry32 RNG seeded with the FNV-1a hash of a name
// (the model name for weights, the case name for inputs), weights U(-0.5, 0.5) biases included,
// inputs U(-1, 1), pure-JS CPU backend, float32 values printed as JSON doubles, nothing
// time-dependent. All arithmetic is done by TF.js layers/ops; this file only slices, reverses,
// concatenates and routes states.

import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeRng, prod, stringify, writeFile, toNumberArray } from './common.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CASES_DIR = path.join(HERE, 'streaming');
const MODELS_DIR = path.join(HERE, 'streaming-models');
const SOURCE = `tfjs ${tf.version.tfjs}`;
const D = 3;
// Tolerance of the internal cross-checks (two TF.js routes to the same numbers); in practice 0.
const CHECK_TOL = 1e-6;

function maxAbsDiff(a, b) {
  if (JSON.stringify(a.shape) !== JSON.stringify(b.shape)) {
    throw new Error(`shape mismatch ${JSON.stringify(a.shape)} vs ${JSON.stringify(b.shape)}`);
  }
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

function assertClose(what, a, b, tol = CHECK_TOL) {
  const d = maxAbsDiff(a, b);
  if (!(d <= tol)) throw new Error(`${what}: max |diff| ${d} > ${tol}`);
  return d;
}

// --------------------------------------------------------------------------------------------
// Models (built twice: plain for saving/reference, stateful=True for the Keras-stateful mode)
// --------------------------------------------------------------------------------------------

const L = tf.layers;
const lstm = (name, units, o = {}) => L.lstm({ name, units, activation: 'tanh', recurrentActivation: 'sigmoid', returnSequences: true, ...o });
const gru = (name, units, o = {}) => L.gru({ name, units, activation: 'tanh', recurrentActivation: 'sigmoid', returnSequences: true, ...o });
const bi = (name, layer, o = {}) => L.bidirectional({ name, layer, mergeMode: 'concat', ...o });
const dense = (name, units, activation = 'linear') => L.dense({ name, units, activation });

// name -> { description, layers(stateful) -> fresh layer objects }. `stateful` is passed to every RNN.
const MODELS = {
  bilstm_concat: {
    description: 'Bidirectional(LSTM(5, tanh/sigmoid, return_sequences=True), merge_mode=concat)',
    layers: (st) => [bi('bi1', lstm('lstm1', 5, { stateful: st }))],
  },
  bilstm_sum: {
    description: 'Bidirectional(LSTM(4, tanh/sigmoid, return_sequences=True), merge_mode=sum)',
    layers: (st) => [bi('bi1', lstm('lstm1', 4, { stateful: st }), { mergeMode: 'sum' })],
  },
  stacked_bilstm_bigru_td_softmax: {
    description: 'Bidirectional(LSTM(5), concat) -> Bidirectional(GRU(4, reset_after=False), concat) -> TimeDistributed(Dense(3, softmax))',
    layers: (st) => [
      bi('bi1', lstm('lstm1', 5, { stateful: st })),
      bi('bi2', gru('gru1', 4, { stateful: st })),
      L.timeDistributed({ name: 'td', layer: dense('td_dense', 3, 'softmax') }),
    ],
  },
  lstm_lstm: {
    description: 'LSTM(6, return_sequences=True) -> LSTM(4, return_sequences=True) (unidirectional stack)',
    layers: (st) => [lstm('lstm1', 6, { stateful: st }), lstm('lstm2', 4, { stateful: st })],
  },
  bilstm_last_dense: {
    description: 'Bidirectional(LSTM(5, return_sequences=False), concat) -> Dense(3, linear): last-step model, output [N,3]',
    layers: (st) => [bi('bi1', lstm('lstm1', 5, { stateful: st, returnSequences: false })), dense('out', 3)],
  },
};

// Sequential model with an explicit InputLayer named "<first layer>_input" (as Keras/generate.mjs).
// A stateful model needs a fixed batch size.
function buildModel(modelName, { stateful = false, batch = null } = {}) {
  const layers = MODELS[modelName].layers(stateful);
  const m = tf.sequential({ name: modelName });
  m.add(L.inputLayer({ name: `${layers[0].name}_input`, batchInputShape: [stateful ? batch : null, null, D], dtype: 'float32' }));
  for (const l of layers) m.add(l);
  return m;
}

// The model's layers without the InputLayer.
const bodyLayers = (model) => model.layers.filter((l) => l.getClassName() !== 'InputLayer');

function randomizeWeights(model, rng) {
  for (const layer of model.layers) {
    const ws = layer.weights;
    if (ws.length === 0) continue;
    const values = ws.map((w) => tf.tensor(rng.floats(prod(w.shape), -0.5, 0.5), w.shape, 'float32'));
    layer.setWeights(values);
    tf.dispose(values);
  }
}

function copyWeights(from, to) {
  for (const l of bodyLayers(to)) {
    const src = from.getLayer(l.name);
    if (src.weights.length !== l.weights.length) throw new Error(`weight count mismatch at ${l.name}`);
    if (l.weights.length > 0) l.setWeights(src.getWeights());
  }
}

async function saveLayersModel(model, modelName) {
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
  const dir = path.join(MODELS_DIR, modelName);
  writeFile(path.join(dir, 'model.json'), JSON.stringify(modelJson, null, 1) + '\n');
  writeFile(path.join(dir, 'weights.bin'), Buffer.from(weightData));
}

// Loads streaming-models/<m>/ from the bytes on disk: everything below is computed from what was saved.
async function loadSaved(modelName) {
  const dir = path.join(MODELS_DIR, modelName);
  const mj = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const bin = fs.readFileSync(path.join(dir, 'weights.bin'));
  const ab = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  return tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: mj.modelTopology, weightSpecs: mj.weightsManifest[0].weights, weightData: ab,
  }));
}

// --------------------------------------------------------------------------------------------
// Per-layer plumbing shared by both reference loops
// --------------------------------------------------------------------------------------------

// A standalone TF.js RNN layer (same class, activations and weights as `rnnLayer`) that returns
// its full output sequence and its final states, so that states can be routed explicitly.
function rnnClone(rnnLayer, goBackwards) {
  const cls = rnnLayer.getClassName();
  const cfg = rnnLayer.getConfig();
  const args = {
    units: cfg.units, activation: cfg.activation, recurrentActivation: cfg.recurrentActivation,
    useBias: cfg.useBias, returnSequences: true, returnState: true, goBackwards,
  };
  const layer = cls === 'LSTM' ? L.lstm(args) : cls === 'GRU' ? L.gru({ ...args, resetAfter: cfg.resetAfter }) : null;
  if (!layer) throw new Error(`unsupported RNN class ${cls}`);
  const w = rnnLayer.getWeights();
  layer.apply(tf.zeros([1, 1, w[0].shape[0]])); // builds the layer
  layer.setWeights(w);
  const nStates = cls === 'LSTM' ? 2 : 1;
  return { layer, units: cfg.units, nStates };
}

// Describes each body layer: {kind:'rnn'|'bi'|'step', layer, fwd, bwd, mergeMode, returnSequences}.
function plumb(model) {
  return bodyLayers(model).map((layer) => {
    const cls = layer.getClassName();
    if (cls === 'Bidirectional') {
      if (layer.forwardLayer.goBackwards || !layer.backwardLayer.goBackwards) throw new Error('inner go_backwards not supported here');
      if (layer.mergeMode == null) throw new Error('merge_mode=None not supported here');
      return {
        kind: 'bi', layer, mergeMode: layer.mergeMode, returnSequences: layer.returnSequences,
        fwd: rnnClone(layer.forwardLayer, false), bwd: rnnClone(layer.backwardLayer, true),
      };
    }
    if (cls === 'LSTM' || cls === 'GRU') {
      if (layer.goBackwards) throw new Error('go_backwards not supported here');
      return { kind: 'rnn', layer, returnSequences: layer.returnSequences, fwd: rnnClone(layer, false) };
    }
    return { kind: 'step', layer };
  });
}

const zeroStates = (rnn, n) => Array.from({ length: rnn.nStates }, () => tf.zeros([n, rnn.units]));
const runRnn = (rnn, x, initialState) => rnn.layer.apply(x, { initialState }); // -> [seq, ...finalStates]
const timeSlice = (x, from, len) => tf.slice(x, [0, from, 0], [x.shape[0], len, x.shape[2]]);
const lastStep = (y) => tf.squeeze(timeSlice(y, y.shape[1] - 1, 1), [1]);

// Same ops as tfjs-layers Bidirectional.call for each merge mode.
function merge(mode, y, yRev) {
  if (mode === 'concat') return tf.concat([y, yRev], -1);
  if (mode === 'sum') return tf.add(y, yRev);
  if (mode === 'ave') return tf.mul(0.5, tf.add(y, yRev));
  if (mode === 'mul') return tf.mul(y, yRev);
  throw new Error(`merge mode ${mode}`);
}

// Output of an RNN/Bidirectional layer from its forward output sequence yF (input order) and its
// backward layer's raw output yB (processing order, i.e. reversed; null for unidirectional).
function rnnOutput(p, yF, yB) {
  if (p.kind === 'rnn') return p.returnSequences ? yF : lastStep(yF);
  if (p.returnSequences) return merge(p.mergeMode, yF, tf.reverse(yB, 1));
  // return_sequences=False: forward output at the last window step, backward output at the
  // window's first step (= the last step the backward layer processed)
  return merge(p.mergeMode, lastStep(yF), lastStep(yB));
}

function chunks(T, C) {
  const out = [];
  for (let s = 0; s < T; s += C) out.push({ s, c: Math.min(C, T - s) });
  return out;
}

// Model-level result: sequence models concatenate the emitted steps; last-step models keep the
// output of the final chunk only.
const finish = (emitted, lastStepModel) => (lastStepModel ? emitted[emitted.length - 1] : tf.concat(emitted, 1));

// --------------------------------------------------------------------------------------------
// stateful: Keras stateful=True. Main route: the TF.js stateful model's predict() per chunk.
// Cross-check route: explicit state plumbing (forward and backward layers each start a chunk from
// the final states they reached on the previous chunk; the backward layer runs go_backwards over
// the chunk only).
// --------------------------------------------------------------------------------------------

function statefulViaTfjs(statefulModel, x, C, lastStepModel) {
  statefulModel.resetStates();
  const emitted = chunks(x.shape[1], C).map(({ s, c }) =>
    statefulModel.predict(timeSlice(x, s, c), { batchSize: x.shape[0] }));
  return finish(emitted, lastStepModel);
}

function statefulViaPlumbing(plain, x, C, lastStepModel) {
  const ps = plumb(plain);
  const N = x.shape[0];
  const carryF = ps.map((p) => (p.fwd ? zeroStates(p.fwd, N) : null));
  const carryB = ps.map((p) => (p.bwd ? zeroStates(p.bwd, N) : null));
  const emitted = chunks(x.shape[1], C).map(({ s, c }) => {
    let h = timeSlice(x, s, c);
    ps.forEach((p, i) => {
      if (p.kind === 'step') { h = p.layer.apply(h); return; }
      const [yF, ...stF] = runRnn(p.fwd, h, carryF[i]);
      carryF[i] = stF;
      let yB = null;
      if (p.kind === 'bi') {
        const [y, ...stB] = runRnn(p.bwd, h, carryB[i]);
        carryB[i] = stB;
        yB = y;
      }
      h = rnnOutput(p, yF, yB);
    });
    return h;
  });
  return finish(emitted, lastStepModel);
}

// --------------------------------------------------------------------------------------------
// lookahead(C, R): LC-BLSTM as docs/architecture.md defines it. For the chunk [s, s+c) the window is [s, e),
// e = min(T, s+C+R). Layer by layer over the whole window:
//   forward  : from the state carried at s, over window steps 0..c-1 (return_state: that state,
//              after step s+c-1, is what is carried to the next chunk), then on from that state
//              over the window steps c..e-s-1 (the lookahead steps; their states are dropped);
//   backward : go_backwards from zero state at the window end back to s, re-reversed;
//   merge    : as the Bidirectional layer; per-step layers (Dense, TimeDistributed) on every step.
// The window output of one layer is the next layer's window input; the top layer's first c steps
// are emitted. Last-step models: the final window's top output, whose forward half is the output at
// T-1 and whose backward half is the backward output at step 0 from the first window.
// `check` (optional) is a second copy of the model: each RNN layer's window output is compared
// with that model's own layer called on the window with initialState = [carried fwd, zero bwd].
// `carryAfterWindow` is the WRONG variant (carries the state after the lookahead steps); it is only
// used to show that the fixtures tell the two apart.
// --------------------------------------------------------------------------------------------

let windowChecks = 0;

function lookahead(plain, x, C, R, lastStepModel, check = null, carryAfterWindow = false) {
  const ps = plumb(plain);
  const checkLayers = check ? bodyLayers(check) : null;
  const [N, T] = x.shape;
  const carry = ps.map((p) => (p.fwd ? zeroStates(p.fwd, N) : null));
  const firstBwd = ps.map(() => null); // last-step Bidirectional: backward output at step 0
  const emitted = chunks(T, C).map(({ s, c }) => {
    const w = Math.min(T, s + C + R) - s; // window length
    let h = timeSlice(x, s, w);
    ps.forEach((p, i) => {
      if (p.kind === 'step') { h = p.layer.apply(h); return; }
      const init = carry[i];
      const [yA, ...stA] = runRnn(p.fwd, timeSlice(h, 0, c), init);
      const [yC, ...stC] = w > c ? runRnn(p.fwd, timeSlice(h, c, w - c), stA) : [null, ...stA];
      const yF = w > c ? tf.concat([yA, yC], 1) : yA;
      const yB = p.kind === 'bi' ? runRnn(p.bwd, h, zeroStates(p.bwd, N))[0] : null;
      carry[i] = carryAfterWindow ? stC : stA;
      let out = rnnOutput(p, yF, yB);
      const lastBi = p.kind === 'bi' && !p.returnSequences;
      if (lastBi) {
        // The backward half's last-step output is its output at step 0, computed (like every
        // step's output) in the window of the chunk that holds step 0: the first window.
        if (s === 0) firstBwd[i] = lastStep(yB);
        out = merge(p.mergeMode, lastStep(yF), firstBwd[i]);
      }
      if (checkLayers && !(lastBi && s > 0)) {
        const st = p.kind === 'bi' ? [...init, ...zeroStates(p.bwd, N)] : init;
        assertClose(`lookahead window check, layer ${p.layer.name}, s=${s}`, out, checkLayers[i].apply(h, { initialState: st }));
        windowChecks++;
      }
      h = out;
    });
    return lastStepModel ? h : timeSlice(h, 0, c);
  });
  return finish(emitted, lastStepModel);
}

// --------------------------------------------------------------------------------------------
// context(L, C, R): context-sensitive chunks (Chen & Huo 2015; Kaldi nnet3 chunk width with extra
// left/right context), as docs/architecture.md defines it. For the chunk [s, s+c) the window is [a, e),
// a = max(0, s-L), e = min(T, s+C+R). Main route: the plain model's predict() on the window alone
// (every layer from zero states in both directions, nothing carried), of which the c steps of the
// chunk, window steps s-a .. s-a+c-1, are kept.
// Cross-check route: the same layer by layer, each RNN sub-layer called with explicit zero
// initialState through the plumbing used by `lookahead` (so the two routes share only TF.js's cells).
// --------------------------------------------------------------------------------------------

function contextWindows(T, C, L, R) {
  return chunks(T, C).map(({ s, c }) => ({ s, c, a: Math.max(0, s - L), e: Math.min(T, s + C + R) }));
}

function contextViaPredict(plain, x, C, L, R) {
  const emitted = contextWindows(x.shape[1], C, L, R).map(({ s, c, a, e }) =>
    timeSlice(plain.predict(timeSlice(x, a, e - a), { batchSize: 1024 }), s - a, c));
  return tf.concat(emitted, 1);
}

function contextViaPlumbing(plain, x, C, L, R) {
  const ps = plumb(plain);
  const N = x.shape[0];
  const emitted = contextWindows(x.shape[1], C, L, R).map(({ s, c, a, e }) => {
    let h = timeSlice(x, a, e - a);
    ps.forEach((p) => {
      if (p.kind === 'step') { h = p.layer.apply(h); return; }
      const yF = runRnn(p.fwd, h, zeroStates(p.fwd, N))[0];
      const yB = p.kind === 'bi' ? runRnn(p.bwd, h, zeroStates(p.bwd, N))[0] : null;
      h = rnnOutput(p, yF, yB);
    });
    return timeSlice(h, s - a, c);
  });
  return tf.concat(emitted, 1);
}

// --------------------------------------------------------------------------------------------
// Cases
// --------------------------------------------------------------------------------------------

const CASES = [
  // stateful
  { name: 'stateful_bilstm_concat_c3', model: 'bilstm_concat', mode: 'stateful', N: 2, T: 10, C: 3 },
  { name: 'stateful_stacked_bilstm_bigru_td_softmax_c4', model: 'stacked_bilstm_bigru_td_softmax', mode: 'stateful', N: 3, T: 11, C: 4 },
  { name: 'stateful_lstm_lstm_c2', model: 'lstm_lstm', mode: 'stateful', N: 2, T: 7, C: 2, equalsOffline: true },
  { name: 'stateful_bilstm_last_dense_c4', model: 'bilstm_last_dense', mode: 'stateful', N: 2, T: 10, C: 4, lastStep: true },
  // lookahead
  { name: 'lookahead_bilstm_concat_c4_r0', model: 'bilstm_concat', mode: 'lookahead', N: 2, T: 13, C: 4, R: 0 },
  { name: 'lookahead_bilstm_concat_c4_r2', model: 'bilstm_concat', mode: 'lookahead', N: 2, T: 13, C: 4, R: 2 },
  { name: 'lookahead_bilstm_concat_c3_r5', model: 'bilstm_concat', mode: 'lookahead', N: 2, T: 13, C: 3, R: 5 },
  { name: 'lookahead_stacked_bilstm_bigru_td_softmax_c4_r3', model: 'stacked_bilstm_bigru_td_softmax', mode: 'lookahead', N: 3, T: 14, C: 4, R: 3 },
  { name: 'lookahead_stacked_bilstm_bigru_td_softmax_c5_r20', model: 'stacked_bilstm_bigru_td_softmax', mode: 'lookahead', N: 2, T: 12, C: 5, R: 20, equalsOffline: true },
  { name: 'lookahead_bilstm_sum_c2_r2', model: 'bilstm_sum', mode: 'lookahead', N: 2, T: 9, C: 2, R: 2 },
  { name: 'lookahead_lstm_lstm_c3_r2', model: 'lstm_lstm', mode: 'lookahead', N: 2, T: 8, C: 3, R: 2, equalsOffline: true },
  { name: 'lookahead_bilstm_last_dense_c4_r2', model: 'bilstm_last_dense', mode: 'lookahead', N: 2, T: 10, C: 4, R: 2, lastStep: true },
  // context (no last-step model: context mode refuses them, its definition is per step)
  { name: 'context_bilstm_concat_l2_c3_r2', model: 'bilstm_concat', mode: 'context', N: 2, T: 13, L: 2, C: 3, R: 2 },
  { name: 'context_bilstm_concat_l0_c4_r0', model: 'bilstm_concat', mode: 'context', N: 2, T: 13, L: 0, C: 4, R: 0 },
  { name: 'context_bilstm_sum_l5_c2_r1', model: 'bilstm_sum', mode: 'context', N: 2, T: 9, L: 5, C: 2, R: 1 },
  { name: 'context_stacked_bilstm_bigru_td_softmax_l4_c4_r3', model: 'stacked_bilstm_bigru_td_softmax', mode: 'context', N: 3, T: 14, L: 4, C: 4, R: 3 },
  { name: 'context_stacked_bilstm_bigru_td_softmax_l12_c5_r20', model: 'stacked_bilstm_bigru_td_softmax', mode: 'context', N: 2, T: 12, L: 12, C: 5, R: 20, equalsOffline: true },
  { name: 'context_lstm_lstm_l2_c3_r1', model: 'lstm_lstm', mode: 'context', N: 2, T: 8, L: 2, C: 3, R: 1 },
];

function describe(k, modelDesc) {
  const chunkList = chunks(k.T, k.C).map(({ s, c }) => `[${s},${s + c})`).join(' ');
  if (k.mode === 'stateful') {
    return `stateful (Keras stateful=True) C=${k.C}, T=${k.T}: ${modelDesc}. The input is fed as successive ` +
      `predict() calls on the chunks ${chunkList}; every forward and backward RNN sub-layer starts a chunk from the ` +
      `final state it reached on the previous chunk (the backward one runs over its chunk only). ` +
      (k.lastStep ? 'Last-step model: the output is that of the FINAL chunk\'s predict call.'
        : 'Outputs of all chunks concatenated in step order.') +
      (k.equalsOffline ? ' Unidirectional: equals offline predict (asserted).' : '');
  }
  if (k.mode === 'context') {
    const windows = contextWindows(k.T, k.C, k.L, k.R).map(({ a, e }) => `[${a},${e})`).join(' ');
    return `context L=${k.L}, C=${k.C}, R=${k.R}, T=${k.T}: ${modelDesc}. Chunks ${chunkList}, windows ${windows}; ` +
      'each chunk is the model\'s predict() on its window alone (every RNN direction from zero state, nothing ' +
      'carried between chunks), of which the chunk\'s steps are kept; concatenated in step order.' +
      (k.equalsOffline ? ' L >= every chunk start and R >= T: equals offline predict (asserted).' : '');
  }
  const windows = chunks(k.T, k.C).map(({ s }) => `[${s},${Math.min(k.T, s + k.C + k.R)})`).join(' ');
  return `lookahead (LC-BLSTM) C=${k.C}, R=${k.R}, T=${k.T}: ${modelDesc}. Chunks ${chunkList}, windows ${windows}; ` +
    'every RNN layer runs over the window: forward from the state carried at s (the state after step s+c-1 is ' +
    'carried on, never after lookahead steps), backward from zero state at the window end. ' +
    (k.lastStep ? 'Last-step model: the top layer\'s last-step output: forward at T-1 (final window), backward at step 0 (first window).'
      : 'Each chunk emits its c steps; concatenated in step order.') +
    (k.equalsOffline ? ' Equals offline predict (asserted).' : '');
}

async function main() {
  await tf.setBackend('cpu');
  await tf.ready();
  fs.rmSync(CASES_DIR, { recursive: true, force: true });
  fs.rmSync(MODELS_DIR, { recursive: true, force: true });
  const log = [];

  // Models: build plain, randomize (seeded by model name), save.
  for (const name of Object.keys(MODELS)) {
    const m = buildModel(name);
    randomizeWeights(m, makeRng(name));
    await saveLayersModel(m, name);
    m.dispose();
  }

  for (const k of CASES) {
    const plain = await loadSaved(k.model);
    const check = await loadSaved(k.model); // a second copy for layer-level cross-checks
    const inputName = plain.inputs[0].sourceLayer.name;
    const outputName = plain.outputs[0].sourceLayer.name;
    const shape = [k.N, k.T, D];
    const data = makeRng(k.name).floats(prod(shape), -1, 1);
    const x = tf.tensor(data, shape, 'float32');
    const offline = plain.predict(x, { batchSize: 1024 });
    const notes = [];
    let y;
    if (k.mode === 'stateful') {
      const sm = buildModel(k.model, { stateful: true, batch: k.N });
      copyWeights(plain, sm);
      y = statefulViaTfjs(sm, x, k.C, k.lastStep);
      notes.push(`tfjs stateful vs explicit plumbing ${assertClose(k.name, y, statefulViaPlumbing(plain, x, k.C, k.lastStep))}`);
      if (!k.equalsOffline) notes.push(`max |y - lookahead(C,0)| ${maxAbsDiff(y, lookahead(plain, x, k.C, 0, k.lastStep))}`);
      sm.dispose();
    } else if (k.mode === 'context') {
      y = contextViaPredict(plain, x, k.C, k.L, k.R);
      notes.push(`predict per window vs layer plumbing ${assertClose(k.name, y, contextViaPlumbing(plain, x, k.C, k.L, k.R))}`);
      if (k.L === 0 && k.R === 0) {
        // Without context a chunk is the model on the chunk alone.
        const alone = tf.concat(chunks(k.T, k.C).map(({ s, c }) => plain.predict(timeSlice(x, s, c))), 1);
        notes.push(`vs predict on each chunk alone ${assertClose(k.name, y, alone)}`);
      }
      if (!k.equalsOffline) {
        // Carrying forward state (lookahead) must give other numbers: the cases tell them apart.
        const d = maxAbsDiff(y, lookahead(plain, x, k.C, k.R, false));
        if (!(d > 1e-4)) throw new Error(`${k.name}: context equals lookahead(C, R) (${d})`);
        notes.push(`max |y - lookahead(C,R)| ${d}`);
      }
    } else {
      const before = windowChecks;
      y = lookahead(plain, x, k.C, k.R, k.lastStep, check);
      notes.push(`${windowChecks - before} layer-window checks ok`);
      if (k.R > 0 && !k.equalsOffline) {
        const d = maxAbsDiff(y, lookahead(plain, x, k.C, k.R, k.lastStep, null, true));
        if (!(d > 1e-4)) throw new Error(`${k.name}: carrying the post-lookahead state changes nothing (${d})`);
        notes.push(`max |y - wrong-carry variant| ${d}`);
      }
      // Independent route for a single Bidirectional(concat) layer: forward half = offline forward
      // half; backward half of chunk [s,s+c) = backward half of plain predict() on the window alone.
      if (k.model === 'bilstm_concat') {
        const u = 5;
        const parts = chunks(k.T, k.C).map(({ s, c }) => {
          const win = plain.predict(timeSlice(x, s, Math.min(k.T, s + k.C + k.R) - s));
          return tf.concat([tf.slice(offline, [0, s, 0], [k.N, c, u]), tf.slice(win, [0, 0, u], [k.N, c, u])], -1);
        });
        notes.push(`vs offline-fwd + windowed-predict-bwd ${assertClose(k.name, y, tf.concat(parts, 1))}`);
      }
    }
    const dOff = maxAbsDiff(y, offline);
    if (k.equalsOffline) assertClose(`${k.name} vs offline`, y, offline);
    else if (dOff < 1e-3) throw new Error(`${k.name}: streamed output suspiciously close to offline (${dOff})`);
    notes.push(`max |y - offline| ${dOff}`);

    const expectShape = k.lastStep ? [k.N, offline.shape[1]] : [k.N, k.T, offline.shape[2]];
    if (JSON.stringify(y.shape) !== JSON.stringify(expectShape)) throw new Error(`${k.name}: shape ${y.shape}`);
    const c = {
      name: k.name,
      source: SOURCE,
      description: describe(k, MODELS[k.model].description),
      model: `../streaming-models/${k.model}/model.json`,
      mode: k.mode,
      chunk: k.C,
      lookahead: k.mode === 'stateful' ? undefined : k.R,
      left_context: k.mode === 'context' ? k.L : undefined,
      inputs: [{ name: inputName, dtype: 'float32', shape, data: toNumberArray(data) }],
      outputs: [{ name: outputName, shape: y.shape, data: toNumberArray(y.dataSync()) }],
      rtol: 1e-5,
      atol: 1e-6,
    };
    writeFile(path.join(CASES_DIR, k.name + '.json'), stringify(c) + '\n');
    log.push(`${k.name}: ${notes.join('; ')}`);
    plain.dispose();
    check.dispose();
  }
  console.log(`TF.js ${tf.version.tfjs} backend=${tf.getBackend()}`);
  console.log(`models: ${Object.keys(MODELS).length}, streaming cases: ${CASES.length}`);
  for (const l of log) console.log('  ' + l);
}

await main();
