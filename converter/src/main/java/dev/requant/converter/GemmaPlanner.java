package dev.requant.converter;

import dev.requant.formats.gguf.FileType;
import dev.requant.formats.FormatException;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufValueType;
import dev.requant.formats.model.GemmaArch;
import dev.requant.formats.nvfp4.Fp8Linear;
import dev.requant.formats.nvfp4.Nvfp4Checkpoint;
import dev.requant.formats.nvfp4.Nvfp4Tensor;
import dev.requant.formats.nvfp4.QuantizationConfig;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.safetensors.SafetensorsDtype;
import dev.requant.formats.safetensors.SafetensorsTensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Plans the conversion of a Gemma 3 / Gemma 4 folder the way convert_hf_to_gguf.py converts it: tensor order (generated
 * tensors first, then shards in name order with names sorted inside each), names, transforms, shapes checked against
 * config.json, types by the {@link TypePolicy}, and the complete GGUF metadata in the Python converter's key order.
 */
public final class GemmaPlanner {
    private static final Logger LOG = LoggerFactory.getLogger(GemmaPlanner.class);

    private GemmaPlanner() {}

    public static ConversionPlan plan(Path dir, ConversionSettings settings) throws IOException {
        return plan(dir, settings, TypePolicy.defaults());
    }

    public static ConversionPlan plan(Path dir, ConversionSettings settings, TypePolicy policy) throws IOException {
        if (!Files.exists(dir)) throw new java.nio.file.NoSuchFileException(dir.toString(), null, "no such folder");
        if (!Files.isDirectory(dir)) throw new FormatException(dir, "is not a Hugging Face model folder");
        HfConfig config = HfConfig.read(dir);
        SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir);
        // a conversion reads every weight, and a Q4_0 plan samples rows of every tensor before the first is encoded: the
        // pages mapped in on a background thread in one pass, instead of a fault at a time on the readers' threads (a dry
        // run that reads little starts it all the same; its daemon thread ends with the process or when the plan closes)
        ck.prefetch();
        try {
            return plan(config, ck, settings, policy);
        } catch (IOException | RuntimeException e) {
            ck.close();
            throw e;
        }
    }

    private static ConversionPlan plan(HfConfig config, SafetensorsCheckpoint ck, ConversionSettings settings, TypePolicy policy) throws IOException {
        Vocabulary vocab = Vocabulary.of(config);
        if (vocab.kind() == Vocabulary.Kind.SENTENCEPIECE && config.arch() == GemmaArch.GEMMA4) {
            LOG.warn("{}: no tokenizer.json; writing the SentencePiece vocabulary of tokenizer.model (convert_hf_to_gguf.py needs tokenizer.json for Gemma 4)", config.dir());
        }
        // pre-quantized checkpoints: NVFP4 / FP8 weights are groups of stored tensors (codes + scales)
        QuantizationConfig qc = QuantizationConfig.read(config.dir());
        Nvfp4Checkpoint quant = qc.kind() == QuantizationConfig.Kind.NONE ? null : Nvfp4Checkpoint.scan(ck, qc);
        boolean keepNvfp4 = settings.isAuto();
        if (quant != null && (!quant.nvfp4().isEmpty() || !quant.experts().isEmpty())) policy = policy.insertBefore(TypePolicy.F32_VECTORS_AND_NORMS, Nvfp4Planning.rule());
        settings = resolveAuto(settings, ck, config);

        // NVFP4 experts (kept NVFP4): Gemma 4's router.per_expert_scale goes into the down projections' scales
        Map<Integer, float[]> foldedRouterScales = new LinkedHashMap<>();
        if (quant != null && keepNvfp4) {
            for (dev.requant.formats.nvfp4.Nvfp4Experts g : quant.experts()) {
                if (!g.projection().equals("down_proj")) continue;
                String prefix = g.layerPrefix().substring(0, g.layerPrefix().lastIndexOf(".experts"));
                if (prefix.endsWith(".moe")) prefix = prefix.substring(0, prefix.length() - ".moe".length());
                var pes = ck.get(prefix + ".router.per_expert_scale");
                if (pes.isPresent()) {
                    float[] v = new float[(int) pes.get().tensor().elementCount()];
                    pes.get().tensor().dtype().toFloats(pes.get().file().data(pes.get().tensor()), 0, v, 0, v.length);
                    foldedRouterScales.put(g.layer(), v);
                }
            }
        }

        // map names, keep order
        List<Mapped> mapped = new ArrayList<>();
        List<String> dropped = new ArrayList<>();
        Map<String, Mapped> byGguf = new LinkedHashMap<>();
        for (SafetensorsCheckpoint.Entry e : ck.entries()) {
            if (quant != null && quant.isAuxiliary(e.name())) continue;
            var experts = quant == null ? java.util.Optional.<dev.requant.formats.nvfp4.Nvfp4Experts>empty() : quant.experts(e.name());
            if (experts.isPresent()) {
                if (experts.get().firstStoredName().equals(e.name())) mapped.add(new Mapped(e, null, experts.get()));
                continue;
            }
            GemmaTensorNames.Result r = GemmaTensorNames.map(Nvfp4Checkpoint.canonicalWeightName(e.name()), config.arch());
            switch (r) {
                case GemmaTensorNames.Dropped d -> dropped.add(d.hfName());
                case GemmaTensorNames.Skipped s -> { }
                case GemmaTensorNames.Unknown u -> throw new FormatException(e.file().path(),
                        "tensor '" + u.hfName() + "' has no " + config.arch().ggufName() + " GGUF name (convert_hf_to_gguf.py cannot map it either)");
                case GemmaTensorNames.Mapped m -> {
                    if (m.ggufName().endsWith(".ffn_down_exps.scale") && foldedRouterScales.containsKey(m.blockId())) continue; // folded
                    Mapped x = new Mapped(e, m, null);
                    Mapped prev = byGguf.put(m.ggufName(), x);
                    if (prev != null) throw new FormatException(e.file().path(), "tensors '" + prev.entry.name() + "' and '" + e.name() + "' both map to " + m.ggufName());
                    mapped.add(x);
                }
            }
        }
        if (!dropped.isEmpty()) {
            LOG.info("leaving out {} vision/audio tensors (they belong to an mmproj file), e.g. {}", dropped.size(), dropped.getFirst());
        }

        Shapes shapes = new Shapes(config, vocab, byGguf);
        List<PlannedTensor> planned = new ArrayList<>();
        if (config.arch() == GemmaArch.GEMMA4) {
            GeneratedTensor rf = ropeFreqs(config);
            planned.add(decide(policy, settings, "rope_freqs.weight", null, null, rf));
        }
        for (Mapped m : mapped) {
            if (m.experts != null) {
                var g = m.experts;
                if (config.expertCount() == null || g.count() != config.expertCount()) {
                    throw new FormatException(m.entry.file().path(), g.layerPrefix() + "." + g.projection() + " has " + g.count()
                            + " NVFP4 experts but config.json says num_experts " + config.expertCount());
                }
                for (Nvfp4Planning.Planned p : Nvfp4ExpertPlanning.plan(g, keepNvfp4, foldedRouterScales.get(g.layer()), m.entry.file().path())) {
                    shapes.present(p.ggufName(), p.recipe().ne(), m.entry);
                    planned.add(decide(policy, settings, p.ggufName(), m.entry.name(), g.layer(), p.recipe()));
                }
                continue;
            }
            SafetensorsTensor t = m.entry.tensor();
            Nvfp4Tensor nv = quant == null ? null : quant.nvfp4(m.entry.name()).orElse(null);
            if (nv != null) {
                shapes.check(m.entry, new long[] {nv.rows(), nv.cols()}, m.result.ggufName());
                for (Nvfp4Planning.Planned p : Nvfp4Planning.plan(config.arch().ggufName(), m.result.ggufName(), nv, keepNvfp4, settings.nvfp4(), m.entry.file().path())) {
                    planned.add(decide(policy, settings, p.ggufName(), m.entry.name(), m.result.blockId(), p.recipe()));
                }
                continue;
            }
            Fp8Linear f8 = quant == null ? null : quant.fp8(m.entry.name()).orElse(null);
            if (f8 != null) {
                shapes.check(m.entry, new long[] {f8.rows(), f8.cols()}, m.result.ggufName());
                planned.add(decide(policy, settings, m.result.ggufName(), m.entry.name(), m.result.blockId(), new QuantizedDequant(f8)));
                continue;
            }
            if (!Set.of(SafetensorsDtype.BF16, SafetensorsDtype.F16, SafetensorsDtype.F32, SafetensorsDtype.F64).contains(t.dtype())) {
                throw new FormatException(m.entry.file().path(), "tensor '" + t.name() + "' is " + t.dtype() + "; only float checkpoints (BF16, F16, F32) are converted");
            }
            long keep = shapes.check(m.entry, m.result.ggufName());
            boolean addOne = config.arch() == GemmaArch.GEMMA3 && m.result.hfName().endsWith("norm.weight");
            CheckpointTensor recipe = new CheckpointTensor(m.entry, keep, addOne);
            planned.add(decide(policy, settings, m.result.ggufName(), m.entry.name(), m.result.blockId(), recipe));
        }
        shapes.checkComplete(ck);

        GgufMetadata md = GemmaMetadata.build(config, settings, vocab, planned, shapes.perLayerInputWidth());
        if (planned.stream().anyMatch(p -> p.decision().type() == dev.requant.formats.ggml.GgmlType.NVFP4)) {
            md.put(GgufKeys.General.FILE_TYPE, GgufValue.u32(Nvfp4Planning.FILE_TYPE_MOSTLY_NVFP4));
        }
        return new ConversionPlan(config, settings, planned, dropped, md, ck, vocab);
    }

    /** A checkpoint tensor and its GGUF name, or the first tensor of an NVFP4 expert group. */
    private record Mapped(SafetensorsCheckpoint.Entry entry, GemmaTensorNames.Mapped result, dev.requant.formats.nvfp4.Nvfp4Experts experts) {}

    private static PlannedTensor decide(TypePolicy policy, ConversionSettings settings, String name, String hfName, Integer bid, TensorRecipe recipe) {
        TypeDecision d = policy.decide(new TensorCandidate(name, hfName, bid, recipe, settings));
        return new PlannedTensor(name, hfName, bid, recipe, d);
    }

    /** --outtype auto: BF16 if the first tensor of 2+ dims is bfloat16, F16 if float16, else keep looking; F16 if none. */
    static ConversionSettings resolveAuto(ConversionSettings s, SafetensorsCheckpoint ck, HfConfig config) {
        if (!s.isAuto()) return s;
        for (SafetensorsCheckpoint.Entry e : ck.entries()) {
            if (e.tensor().rank() < 2 || !(GemmaTensorNames.map(e.name(), config.arch()) instanceof GemmaTensorNames.Mapped)) continue;
            if (e.tensor().dtype() == SafetensorsDtype.BF16) return s.withOutType(FileType.BF16);
            if (e.tensor().dtype() == SafetensorsDtype.F16) return s.withOutType(FileType.F16);
        }
        return s.withOutType(FileType.F16);
    }

    /**
     * Gemma4Model.generate_extra_tensors: proportional RoPE on full layers as frequency factors, 1 for the rotated
     * pairs and 1e30 (no rotation) for the rest, global_head_dim/2 values.
     */
    static GeneratedTensor ropeFreqs(HfConfig c) {
        int hd = c.headDimFull();
        int nRot = (int) (hd * c.rope().partialRotaryFull() / 2);
        int n = hd / 2;
        float[] v = new float[n];
        Arrays.fill(v, 0, nRot, 1.0f);
        Arrays.fill(v, nRot, n, 1e30f);
        return new GeneratedTensor("generated: proportional rope, " + nRot + " of " + n + " pairs rotate", v, n);
    }

    /** The expected HF shape of every tensor kind, and which ones must be present. */
    private static final class Shapes {
        private final HfConfig c;
        private final Vocabulary vocab;
        private final Map<String, Mapped> byGguf;
        private final int ple;

        Shapes(HfConfig c, Vocabulary vocab, Map<String, Mapped> byGguf) throws FormatException {
            this.c = c;
            this.vocab = vocab;
            this.byGguf = byGguf;
            Mapped pl = byGguf.get("per_layer_token_embd.weight");
            Integer given = c.perLayerInputWidth();
            if (given == null) {
                ple = pl == null ? 0 : (int) (pl.entry.tensor().dim(pl.entry.tensor().rank() - 1) / c.blockCount());
            } else {
                ple = given;
                if (ple > 0 && pl == null) throw c.error("hidden_size_per_layer_input is " + ple + " but the checkpoint has no embed_tokens_per_layer tensor");
                if (ple == 0 && pl != null) throw c.error("hidden_size_per_layer_input is 0/null but the checkpoint has " + pl.entry.name());
            }
        }

        private final java.util.Set<String> generated = new java.util.HashSet<>();

        int perLayerInputWidth() { return ple; }

        /** A tensor made from a group of checkpoint tensors (NVFP4 experts): its shape checked, its name counted as present. */
        void present(String gguf, long[] ne, SafetensorsCheckpoint.Entry e) throws FormatException {
            long[] shape = new long[ne.length];
            for (int i = 0; i < ne.length; i++) shape[i] = ne[ne.length - 1 - i];
            long[] want = expected(gguf, shape);
            if (want != null && !Arrays.equals(want, shape)) {
                throw new FormatException(e.file().path(), "NVFP4 experts starting at '" + e.name() + "' make " + gguf + " of shape " + Arrays.toString(shape)
                        + " but " + c.file().getFileName() + " implies " + Arrays.toString(want) + " (num_experts, moe_intermediate_size, hidden_size)");
            }
            generated.add(gguf);
        }

        /** Checks one tensor's shape; returns the rows to keep (-1 = all). */
        long check(SafetensorsCheckpoint.Entry e, String gguf) throws FormatException {
            return check(e, e.tensor().shape(), gguf);
        }

        /** Checks the logical shape of a tensor stored in another form (packed NVFP4 codes, FP8). */
        long check(SafetensorsCheckpoint.Entry e, long[] shape, String gguf) throws FormatException {
            long[] want = expected(gguf, shape);
            long keep = -1;
            if (gguf.equals("token_embd.weight")) {
                if (shape.length == 2 && shape[0] > vocab.embeddingRows()) keep = vocab.embeddingRows();
                if (shape.length == 2 && Math.min(shape[0], vocab.embeddingRows()) != vocab.size()) {
                    throw new FormatException(e.file().path(), "tensor '" + e.name() + "' has " + shape[0] + " rows but the vocabulary has "
                            + vocab.size() + " tokens (config.json vocab_size " + c.vocabSize() + "); llama.cpp needs one row per token");
                }
                if (keep >= 0) shape = new long[] {keep, shape[1]};
            }
            if (want != null && !Arrays.equals(want, shape)) {
                throw new FormatException(e.file().path(), "tensor '" + e.name() + "' has shape " + Arrays.toString(shape)
                        + (Arrays.equals(shape, e.tensor().shape()) ? "" : " (stored as " + Arrays.toString(e.tensor().shape()) + ")") + " but " + c.file().getFileName() + " implies " + Arrays.toString(want) + " (" + why(gguf) + ")");
            }
            return keep;
        }

        private String why(String gguf) {
            int b = blockOf(gguf);
            String kind = b < 0 ? gguf : gguf.substring(gguf.indexOf('.', 4) + 1);
            String layer = b < 0 ? "" : "layer " + b + " (" + (c.isSliding(b) ? "sliding" : "full") + "): ";
            return layer + switch (kind) {
                case "attn_q.weight", "attn_output.weight" -> "num_attention_heads " + c.headCount() + " x head_dim " + c.headDim(b) + ", hidden_size " + c.embeddingLength();
                case "attn_k.weight", "attn_v.weight" -> "num_key_value_heads " + c.kvHeads(b) + " x head_dim " + c.headDim(b) + ", hidden_size " + c.embeddingLength();
                case "attn_q_norm.weight", "attn_k_norm.weight" -> "head_dim " + c.headDim(b);
                case "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight" -> "intermediate_size " + c.feedForward(b) + ", hidden_size " + c.embeddingLength();
                case "token_embd.weight", "output.weight" -> "vocab " + vocab.size() + ", hidden_size " + c.embeddingLength();
                default -> "hidden_size " + c.embeddingLength() + (ple > 0 ? ", hidden_size_per_layer_input " + ple : "");
            };
        }

        private static int blockOf(String gguf) {
            if (!gguf.startsWith("blk.")) return -1;
            return Integer.parseInt(gguf.substring(4, gguf.indexOf('.', 4)));
        }

        /** The HF (row-major) shape config.json implies, or null for kinds without a fixed expectation. */
        long[] expected(String gguf, long[] actual) throws FormatException {
            long d = c.embeddingLength();
            long v = vocab.size();
            int b = blockOf(gguf);
            String kind = b < 0 ? gguf : gguf.substring(gguf.indexOf('.', 4) + 1);
            if (b >= c.blockCount()) throw c.error("the checkpoint has layer " + b + " but num_hidden_layers is " + c.blockCount());
            long L = c.blockCount();
            return switch (kind) {
                case "token_embd.weight", "output.weight" -> new long[] {v, d};
                case "output_norm.weight", "attn_norm.weight", "post_attention_norm.weight", "ffn_norm.weight", "post_ffw_norm.weight",
                        "post_norm.weight", "pre_ffw_norm_2.weight", "post_ffw_norm_1.weight", "post_ffw_norm_2.weight", "ffn_gate_inp.scale" -> new long[] {d};
                case "attn_q.weight" -> new long[] {(long) c.headCount() * c.headDim(b), d};
                case "attn_k.weight", "attn_v.weight" -> new long[] {(long) c.kvHeads(b) * c.headDim(b), d};
                case "attn_output.weight" -> new long[] {d, (long) c.headCount() * c.headDim(b)};
                case "attn_q_norm.weight", "attn_k_norm.weight" -> new long[] {c.headDim(b)};
                case "ffn_gate.weight", "ffn_up.weight" -> new long[] {c.feedForward(b), d};
                case "ffn_down.weight" -> new long[] {d, c.feedForward(b)};
                case "layer_output_scale.weight" -> new long[] {1};
                case "per_layer_token_embd.weight" -> new long[] {v, L * ple};
                case "per_layer_model_proj.weight" -> new long[] {L * ple, d};
                case "per_layer_proj_norm.weight" -> new long[] {ple};
                case "inp_gate.weight" -> new long[] {ple, d};
                case "proj.weight" -> new long[] {d, ple};
                case "ffn_gate_inp.weight" -> c.expertCount() == null ? null : new long[] {c.expertCount(), d};
                case "ffn_gate_up_exps.weight" -> c.expertCount() == null ? null : new long[] {c.expertCount(), 2L * c.expertFeedForward(), d};
                case "ffn_gate_exps.weight", "ffn_up_exps.weight" -> c.expertCount() == null ? null : new long[] {c.expertCount(), c.expertFeedForward(), d};
                case "ffn_down_exps.scale", "ffn_gate_exps.scale", "ffn_up_exps.scale", "ffn_down_exps.input_scale", "ffn_gate_exps.input_scale",
                        "ffn_up_exps.input_scale" -> c.expertCount() == null ? null : new long[] {c.expertCount()};
                case "ffn_down_exps.weight" -> c.expertCount() == null ? null : new long[] {c.expertCount(), d, c.expertFeedForward()};
                default -> null;
            };
        }

        private boolean has(String gguf) { return byGguf.containsKey(gguf) || generated.contains(gguf); }

        /** Every tensor llama.cpp requires is there (missing ones are named with the file that should hold them). */
        void checkComplete(SafetensorsCheckpoint ck) throws FormatException {
            List<String> need = new ArrayList<>(List.of("token_embd.weight", "output_norm.weight"));
            for (int i = 0; i < c.blockCount(); i++) {
                for (String k : List.of("attn_norm", "attn_q", "attn_q_norm", "attn_output", "post_attention_norm", "ffn_norm", "post_ffw_norm",
                        "ffn_gate", "ffn_up", "ffn_down")) need.add("blk." + i + "." + k + ".weight");
                if (c.hasKv(i)) {
                    need.add("blk." + i + ".attn_k.weight");
                    need.add("blk." + i + ".attn_k_norm.weight");
                    if (!(c.kEqV() && !c.isSliding(i))) need.add("blk." + i + ".attn_v.weight");
                }
                if (ple > 0) for (String k : List.of("inp_gate", "proj", "post_norm")) need.add("blk." + i + "." + k + ".weight");
                if (c.moe()) {
                    for (String k : List.of("ffn_gate_inp.weight", "ffn_gate_inp.scale", "ffn_gate_up_exps.weight", "ffn_down_exps.weight",
                            "pre_ffw_norm_2.weight", "post_ffw_norm_1.weight", "post_ffw_norm_2.weight")) need.add("blk." + i + "." + k);
                }
            }
            if (ple > 0) need.addAll(List.of("per_layer_token_embd.weight", "per_layer_model_proj.weight", "per_layer_proj_norm.weight"));
            // fused gate_up experts, or gate and up apart (NVFP4 checkpoints store them per expert)
            need.replaceAll(n -> n.endsWith(".ffn_gate_up_exps.weight") && !has(n) && has(n.replace("gate_up", "gate")) && has(n.replace("gate_up", "up"))
                    ? n.replace("gate_up", "gate") : n);
            List<String> missing = need.stream().filter(n -> !has(n)).toList();
            if (!missing.isEmpty()) {
                Path where = ck.files().size() == 1 ? ck.files().getFirst().path() : ck.root().resolve(SafetensorsCheckpoint.INDEX);
                if (!Files.exists(where)) where = ck.root();
                throw new FormatException(where, "is missing " + missing.size() + " tensor" + (missing.size() == 1 ? "" : "s")
                        + " the model needs, e.g. " + missing.getFirst() + (missing.size() > 1 ? " and " + missing.get(1) : ""));
            }
        }
    }

    /** The GGUF array form of an int list as gguf-py writes Python int lists (INT32). */
    static GgufValue int32Array(int[] v) {
        return GgufValue.array(new GgufArray(GgufValueType.INT32, v.clone()));
    }
}
