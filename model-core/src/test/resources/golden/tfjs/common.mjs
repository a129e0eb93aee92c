// Helpers shared by generate.mjs and generate_streaming.mjs: the deterministic RNG (mulberry32
// seeded with the FNV-1a hash of a name) and the fixture writers. Changing anything here changes
// every fixture: rerun both generators and check that `git diff` of the fixtures is empty.

import fs from 'node:fs';
import path from 'node:path';

export function fnv1a(str) {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function mulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeRng(name) {
  const r = mulberry32(fnv1a(name));
  return {
    uniform(lo, hi) { return lo + (hi - lo) * r(); },
    int(lo, hiExclusive) { return lo + Math.floor(r() * (hiExclusive - lo)); },
    floats(count, lo, hi) {
      const a = new Float32Array(count);
      for (let i = 0; i < count; i++) a[i] = lo + (hi - lo) * r();
      return a;
    },
  };
}

export const prod = (shape) => shape.reduce((a, b) => a * b, 1);

// --------------------------------------------------------------------------------------------
// Output helpers
// --------------------------------------------------------------------------------------------

// JSON with arrays of primitives kept on one line (the data arrays), everything else indented.
export function stringify(value, indent = '') {
  const next = indent + '  ';
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== 'object')) {
      return '[' + value.map((v) => JSON.stringify(v)).join(', ') + ']';
    }
    if (value.length === 0) return '[]';
    return '[\n' + value.map((v) => next + stringify(v, next)).join(',\n') + '\n' + indent + ']';
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined);
    if (keys.length === 0) return '{}';
    return '{\n' + keys.map((k) => next + JSON.stringify(k) + ': ' + stringify(value[k], next)).join(',\n') +
      '\n' + indent + '}';
  }
  return JSON.stringify(value);
}

export function writeFile(p, content) {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
}

export function toNumberArray(typed) {
  // Float32Array -> JS numbers (exact float32 values); JSON.stringify prints the shortest
  // decimal that round-trips to the same double, hence to the same float32.
  return Array.from(typed, (v) => {
    if (!Number.isFinite(v)) throw new Error(`non-finite value ${v}`);
    return Object.is(v, -0) ? 0 : v;
  });
}
