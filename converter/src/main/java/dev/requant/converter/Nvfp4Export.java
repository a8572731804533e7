package dev.requant.converter;

import dev.requant.formats.FormatException;
import dev.requant.formats.imatrix.ImatrixImportance;
import dev.requant.formats.nvfp4.Nvfp4CheckpointWriter;
import dev.requant.formats.nvfp4.Nvfp4Format;
import dev.requant.formats.nvfp4.Nvfp4Quantizer;
import dev.requant.formats.nvfp4.QuantizationConfig;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.safetensors.SafetensorsDtype;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * BF16 (or F16/F32) Gemma checkpoint to NVFP4, which llama.cpp cannot make: the {@link Nvfp4Recipe}'s weights are
 * quantized with ModelOpt's math ({@link Nvfp4Quantizer}; importance-weighted block scales when an imatrix is given)
 * and written as a ModelOpt or compressed-tensors checkpoint, or converted straight on to a GGUF (through a ModelOpt
 * checkpoint in a temporary folder beside the output, so the GGUF is exactly what {@code requant convert} makes of
 * the checkpoint). q/k/v and gate/up share their per-tensor scale (vLLM takes the largest of fused shards).
 */
public final class Nvfp4Export {
    private static final Pattern LAYER = Pattern.compile("(.*\\.layers\\.\\d+\\.)(self_attn\\.[qkv]_proj|mlp\\.(gate|up)_proj)\\.weight");

    private Nvfp4Export() {}

    /** The weights a recipe quantizes: stored name to GGUF name, and the modules left out (for exclude_modules). */
    public record Selection(Map<String, String> weights, List<String> excluded) {}

    /**
     * @param exclude fnmatch patterns (ModelOpt exclude_modules syntax) on Hugging Face module names, e.g.
     *     {@code *layers.0.*} or {@code *self_attn.o_proj}
     */
    public static Selection select(Path dir, Nvfp4Recipe recipe, List<String> exclude) throws IOException {
        HfConfig config = HfConfig.read(dir);
        QuantizationConfig qc = QuantizationConfig.read(dir);
        if (qc.kind() != QuantizationConfig.Kind.NONE) {
            throw new FormatException(qc.source(), "declares quantization (" + (qc.algo() != null ? qc.algo() : qc.method())
                    + "); quantize-nvfp4 starts from a float checkpoint");
        }
        List<Pattern> patterns = exclude.stream().map(QuantizationConfig::globToRegex).toList();
        Map<String, String> weights = new LinkedHashMap<>();
        List<String> excluded = new ArrayList<>(List.of("lm_head"));
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            for (SafetensorsCheckpoint.Entry e : ck.entries()) {
                if (!(GemmaTensorNames.map(e.name(), config.arch()) instanceof GemmaTensorNames.Mapped m)) continue;
                if (e.tensor().rank() != 2) continue;
                String module = Nvfp4CheckpointWriter.module(e.name());
                String kind = m.ggufName().startsWith("blk.") ? m.ggufName().substring(m.ggufName().indexOf('.', 4) + 1) : m.ggufName();
                boolean candidate = new Nvfp4Recipe(false, 0).quantizes(kind, m.blockId(), config.blockCount());
                if (!candidate) continue;
                boolean user = patterns.stream().anyMatch(p -> p.matcher(module).matches());
                if (!recipe.quantizes(kind, m.blockId(), config.blockCount()) || user) {
                    excluded.add(module);
                    continue;
                }
                SafetensorsDtype d = e.tensor().dtype();
                if (d != SafetensorsDtype.BF16 && d != SafetensorsDtype.F16 && d != SafetensorsDtype.F32) {
                    throw new FormatException(e.file().path(), "tensor '" + e.name() + "' is " + d + "; quantize-nvfp4 needs float weights");
                }
                weights.put(e.name(), m.ggufName());
            }
        }
        excluded.addAll(exclude);
        return new Selection(weights, excluded);
    }

    /** ModelOpt's fusion groups: q/k/v of a layer share one global scale, gate/up another. */
    public static String fusionGroup(String weight) {
        Matcher m = LAYER.matcher(weight);
        if (!m.matches()) return null;
        return m.group(1) + (m.group(2).startsWith("self_attn") ? "qkv" : "gate_up");
    }

    /**
     * Writes the NVFP4 checkpoint (format non-null) or, with {@code gguf}, the GGUF file.
     *
     * @param importance imatrix importance by GGUF weight name, or null
     * @param activationAmax calibrated max |x| of each weight's input by GGUF weight name (empty: no input scales,
     *     a weight-only W4A16 checkpoint)
     */
    public static void write(Path dir, Path out, Nvfp4Format format, boolean gguf, Selection sel, ImatrixImportance importance,
            Map<String, Float> activationAmax, ConversionSettings.Nvfp4Options convertOptions, Nvfp4CheckpointWriter.Listener listener)
            throws IOException {
        Map<String, Float> inputAmax = new LinkedHashMap<>();
        for (var e : sel.weights().entrySet()) {
            Float a = activationAmax.get(e.getValue());
            if (a != null && a > 0f) inputAmax.put(Nvfp4CheckpointWriter.module(e.getKey()), a);
        }
        if (!inputAmax.isEmpty() && inputAmax.size() != sel.weights().size()) {
            throw new IllegalArgumentException("activation maxima for " + inputAmax.size() + " of " + sel.weights().size() + " weights; a checkpoint needs all or none");
        }
        Nvfp4Format f = gguf ? Nvfp4Format.MODELOPT : format;
        Nvfp4CheckpointWriter.Plan plan = new Nvfp4CheckpointWriter.Plan(f, Nvfp4Quantizer.of(f), sel.weights().keySet(),
                importance == null ? null : w -> importance.forWeight(sel.weights().get(w)).orElse(null),
                inputAmax, Nvfp4Export::fusionGroup, sel.excluded());
        if (!gguf) {
            Nvfp4CheckpointWriter.write(dir, out, plan, listener);
            return;
        }
        Path parent = out.toAbsolutePath().getParent();
        Path tmp = parent.resolve("." + out.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".nvfp4.tmp-requant");
        try {
            Nvfp4CheckpointWriter.write(dir, tmp, plan, listener);
            try (ConversionPlan p = GemmaPlanner.plan(tmp, ConversionSettings.auto().withNvfp4(convertOptions))) {
                GgufConversion.write(p, out, null);
            }
        } finally {
            deleteTree(tmp);
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var s = Files.walk(p)) {
            for (Path x : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(x);
        }
    }
}
