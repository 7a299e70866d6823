// The 2022 prototype's face matcher, for the gallery benchmark's baseline (see prototype.py).
//
// usage: node prototype_loop.js RECORDS.f32 QUERIES.f32 THRESHOLD
// Both files hold little-endian float32 descriptors of 128 values, one after another.
// Prints a JSON list: milliseconds per query, in the order of QUERIES.
//
// Per query, as the prototype's worker did: walk the records in order, copy each record's
// values out of the shared buffer into a new array, measure the Euclidean distance the way
// face-api.js does (arrays, map, reduce), keep the best so far, and stop at the first
// record under the threshold. (The prototype also logged a line per record; not here.)
"use strict";
const fs = require("fs");

const LENGTH = 128;

function readDescriptors(path) {
  const bytes = fs.readFileSync(path);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

function euclidean(first, second) {
  const a = Array.isArray(first) ? first : Array.from(first);
  const b = Array.isArray(second) ? second : Array.from(second);
  return Math.sqrt(a.map((value, i) => value - b[i]).reduce((sum, d) => sum + d ** 2, 0));
}

function match(records, count, query, threshold) {
  let best = Number.MAX_SAFE_INTEGER;
  let index = -1;
  for (let record = 0; record < count; record++) {
    const copy = [];
    for (let i = 0; i < LENGTH; i++) copy.push(records[record * LENGTH + i]);
    const distance = euclidean(query, copy);
    if (distance < best) {
      best = distance;
      index = record;
    }
    if (best < threshold) break;
  }
  return index;
}

const [recordsPath, queriesPath, threshold] = process.argv.slice(2);
const records = readDescriptors(recordsPath);
const queries = readDescriptors(queriesPath);
const count = records.length / LENGTH;
const times = [];
for (let q = 0; q < queries.length / LENGTH; q++) {
  const query = queries.slice(q * LENGTH, (q + 1) * LENGTH);
  const began = process.hrtime.bigint();
  match(records, count, query, Number(threshold));
  times.push(Number(process.hrtime.bigint() - began) / 1e6);
}
process.stdout.write(JSON.stringify(times) + "\n");
