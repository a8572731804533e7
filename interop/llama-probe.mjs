#!/usr/bin/env node
// Runs a GGUF file in the real llama.cpp (node-llama-cpp, CPU only, offline) for requant's interop tests.
//
//   node llama-probe.mjs --model M.gguf --info
//   node llama-probe.mjs --model M.gguf --tokenize TEXT_FILE [--special] --out IDS.bin
//   node llama-probe.mjs --model M.gguf --logits IDS.json --out LOGITS.f32
//
// --tokenize: llama_tokenize(text, add_special = false, parse_special = --special); ids as int32 little-endian.
// --logits: evaluates the ids (a JSON array) in one sequence from position 0 and writes the raw next-token logits
//           of every position, float32 little-endian [n_ids, n_vocab]. KV cache in F32, no flash attention, so that
//           an F32 model is compared with an F32 reference without F16 rounding in between.
// A one-line JSON summary goes to stdout; llama.cpp's own log goes to stderr (errors only).
import fs from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

function parseArgs(argv) {
    const a = {special: false, info: false};
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const next = () => {
            if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
            return argv[++i];
        };
        if (k === "--model") a.model = next();
        else if (k === "--tokenize") a.tokenize = next();
        else if (k === "--logits") a.logits = next();
        else if (k === "--out") a.out = next();
        else if (k === "--special") a.special = true;
        else if (k === "--info") a.info = true;
        else if (k === "--threads") a.threads = Number(next());
        else throw new Error(`unknown argument ${k}`);
    }
    if (!a.model) throw new Error("--model is required");
    return a;
}

async function main() {
    const args = parseArgs(process.argv.slice(2));
    const llama = await getLlama({
        gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, progressLogs: false,
        logLevel: LlamaLogLevel.error, maxThreads: args.threads ?? 2,
    });
    const vocabOnly = !args.logits;
    const model = await llama.loadModel({modelPath: args.model, gpuLayers: 0, vocabOnly, useMmap: true});
    const summary = {model: args.model};
    summary.tokens = {bos: model.tokens.bos, eos: model.tokens.eos, nl: model.tokens.nl};
    summary.vocabularyType = model.vocabularyType;
    summary.architecture = model.fileInfo.metadata?.general?.architecture;

    if (args.tokenize) {
        const text = fs.readFileSync(args.tokenize, "utf8");
        const ids = model.tokenize(text, args.special);
        const buf = Buffer.alloc(ids.length * 4);
        ids.forEach((id, i) => buf.writeInt32LE(id, i * 4));
        if (!args.out) throw new Error("--tokenize needs --out");
        fs.writeFileSync(args.out, buf);
        summary.tokenized = ids.length;
    }

    if (args.logits) {
        if (!args.out) throw new Error("--logits needs --out");
        const ids = JSON.parse(fs.readFileSync(args.logits, "utf8"));
        const context = await model.createContext({
            contextSize: Math.max(256, ids.length + 8), batchSize: Math.max(512, ids.length), sequences: 1,
            flashAttention: false, threads: args.threads ?? 2,
            experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
        });
        const sequence = context.getSequence();
        const input = ids.map((id) => [id, {generateNext: {logits: true}}]);
        const results = await sequence.controlledEvaluate(input);
        const nVocab = results[0]?.next?.logits?.size ?? 0; // the logits map holds every token of the vocabulary
        const out = Buffer.alloc(ids.length * nVocab * 4);
        for (let i = 0; i < ids.length; i++) {
            const logits = results[i]?.next?.logits;
            if (!logits) throw new Error(`no logits for position ${i}`);
            for (const [token, value] of logits) out.writeFloatLE(value, (i * nVocab + token) * 4);
        }
        fs.writeFileSync(args.out, out);
        summary.positions = ids.length;
        summary.vocab = nVocab;
        await context.dispose();
    }

    await model.dispose();
    await llama.dispose();
    process.stdout.write(JSON.stringify(summary) + "\n");
}

main().catch((e) => {
    process.stderr.write(`llama-probe: ${e?.message ?? e}\n`);
    process.exit(1);
});
