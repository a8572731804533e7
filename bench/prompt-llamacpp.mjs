#!/usr/bin/env node
// llama.cpp's prompt-processing speed on a GGUF, as llama-bench -p N -t THREADS measures it: one batch of N random
// tokens from an empty KV cache (default F16 cache, llama.cpp's defaults), logits for the last token only. Runs the
// pinned node-llama-cpp 3.22.1 CPU binaries installed by scripts/test-prepare-interop.sh. Used by bench/forward.sh.
//
//   node bench/prompt-llamacpp.mjs MODEL.gguf [N=512] [THREADS=2] [REPEATS=5]
import path from "node:path";
import {createRequire} from "node:module";

const require = createRequire(path.resolve(import.meta.dirname, "../interop/package.json"));
const {getLlama, LlamaLogLevel} = await import(require.resolve("node-llama-cpp"));

const [modelPath, nArg, tArg, rArg] = process.argv.slice(2);
if (!modelPath) {
    process.stderr.write("usage: prompt-llamacpp.mjs MODEL.gguf [N=512] [THREADS=2] [REPEATS=5]\n");
    process.exit(2);
}
const n = Number(nArg ?? 512), threads = Number(tArg ?? 2), repeats = Number(rArg ?? 5);
const llama = await getLlama({gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
    progressLogs: false, logLevel: LlamaLogLevel.error, maxThreads: threads});
const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: true});
let seed = 1;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const nVocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 1024;
const tokens = Array.from({length: n}, () => 260 + Math.floor(rnd() * (nVocab - 260)));
const times = [], perCpu = [];
for (let r = 0; r <= repeats; r++) {
    const context = await model.createContext({contextSize: n, batchSize: n, sequences: 1, threads});
    const sequence = context.getSequence();
    const input = tokens.map((id, i) => [id, i === n - 1 ? {generateNext: {logits: true}} : {}]);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await sequence.controlledEvaluate(input);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const cu = process.cpuUsage(c0);
    const cpu = (cu.user + cu.system) / 1e6; // process CPU time, all threads (ggml's workers spin while they wait)
    await context.dispose();
    if (r > 0) { // the first run warms the page cache and the thread pool, as llama-bench's warm-up run does
        times.push(n / s);
        perCpu.push(n / cpu);
        process.stderr.write(`run ${r}: ${(n / s).toFixed(1)} tokens/s, ${(n / cpu).toFixed(1)} tokens per CPU-second\n`);
    }
}
times.sort((a, b) => a - b);
perCpu.sort((a, b) => a - b);
process.stdout.write(`${path.basename(modelPath)} pp${n} threads=${threads} (llama.cpp via node-llama-cpp 3.22.1): `
    + `best ${times[times.length - 1].toFixed(1)} tokens/s, median ${times[Math.floor(times.length / 2)].toFixed(1)} tokens/s, `
    + `${perCpu[perCpu.length - 1].toFixed(1)} tokens per CPU-second (${times.length} runs)\n`);
await model.dispose();
await llama.dispose();
