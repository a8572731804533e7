package dev.requant.converter.export;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.model.GemmaArch;
import dev.requant.converter.GemmaTensorNames;
import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufTensors;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.nvfp4.Nvfp4CheckpointWriter;
import dev.requant.formats.nvfp4.QuantizationConfig;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.safetensors.SafetensorsDtype;
import dev.requant.formats.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * GGUF back to a Hugging Face folder ({@code requant export}): the inverse of the conversion for Gemma 3 / Gemma 4
 * text models. Every GGUF tensor gets its checkpoint name ({@link GemmaTensorNames#checkpointName}) and shape (GGUF
 * dims reversed), generated tensors (Gemma 4's {@code rope_freqs}) go back into config.json, Gemma 3's norm weights
 * lose the 1 the conversion added, and the metadata becomes config.json, generation_config.json, the tokenizer files
 * and a model card.
 *
 * <ul>
 *   <li>Dense weights are written in BF16 (or F32): BF16 tensors are copied byte for byte, others decoded exactly
 *       and rounded once, so BF16 → GGUF → BF16 gives the checkpoint's bits back, and a QAT lattice encoded as Q4_0
 *       gives back its BF16 values.</li>
 *   <li>NVFP4 weights become a ModelOpt NVFP4 checkpoint with the GGUF's codes and block scale bytes, and its
 *       {@code .scale} / {@code .input_scale} as {@code weight_scale_2} / {@code input_scale}.</li>
 *   <li>Tensors are sharded in the GGUF's order, a new shard wherever that order is not the checkpoint-name order
 *       the converter reads shards in, so converting the folder back writes the tensors in the same order.</li>
 * </ul>
 * The folder is written under a temporary name beside the target and renamed when complete.
 */
public final class HfExport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** safetensors' header order: dtypes by descending Dtype enum position (then names). */
    private static final List<SafetensorsDtype> DTYPE_ORDER = List.of(SafetensorsDtype.U64, SafetensorsDtype.I64, SafetensorsDtype.F64,
            SafetensorsDtype.F32, SafetensorsDtype.U32, SafetensorsDtype.I32, SafetensorsDtype.BF16, SafetensorsDtype.F16,
            SafetensorsDtype.U16, SafetensorsDtype.I16, SafetensorsDtype.F8_E4M3, SafetensorsDtype.F8_E5M2, SafetensorsDtype.I8,
            SafetensorsDtype.U8, SafetensorsDtype.BOOL);

    private HfExport() {}

    /** The tensors of one GGUF weight (one, or an NVFP4 weight with its scales), kept in one shard. */
    public record Unit(String ggufName, List<ExportedTensor> tensors, boolean placedByName) {
        public Unit(String ggufName, List<ExportedTensor> tensors) {
            this(ggufName, tensors, true);
        }

        long bytes() { return tensors.stream().mapToLong(ExportedTensor::byteSize).sum(); }

        /** The checkpoint name the converter sorts this weight by. */
        String key() { return tensors.getFirst().name(); }
    }

    /**
     * An export you can print before it runs.
     *
     * @param shards the units of each safetensors file, in file order
     * @param files the other files (config.json, tokenizer files, model card...), name to contents
     * @param notes what does not come back exactly, for the user
     */
    public record Plan(GemmaArch arch, String hfClass, ExportSettings settings, List<List<Unit>> shards, Map<String, byte[]> files,
                       List<String> notes) {
        public List<Unit> units() { return shards.stream().flatMap(List::stream).toList(); }

        /** The safetensors file name of shard {@code i}. */
        public String shardName(int i) {
            return shards.size() == 1 ? "model.safetensors" : String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
        }

        /** What each tensor becomes, one line each: GGUF name and type, checkpoint name, dtype, shape, transform. */
        public List<String> describe() {
            List<String> lines = new ArrayList<>();
            for (Unit u : units()) {
                for (ExportedTensor t : u.tensors()) {
                    lines.add(String.format("%-40s -> %-60s %-8s %-18s %s", t.ggufName(), t.name(), t.dtype(), Arrays.toString(t.shape()), t.transform()));
                }
            }
            return lines;
        }
    }

    /** What was written. */
    public record Summary(int tensors, long bytes, Map<String, Long> inexactElements) {}

    /** Told about each tensor written. */
    public interface Listener {
        void tensorWritten(ExportedTensor tensor);
    }

    public static Plan plan(GgufTensors gguf, ExportSettings settings) throws IOException {
        String archName = gguf.metadata().architecture().orElseThrow(() -> new FormatException(gguf.path(), "has no general.architecture"));
        GemmaArch arch = switch (archName) {
            case "gemma3" -> GemmaArch.GEMMA3;
            case "gemma4" -> GemmaArch.GEMMA4;
            default -> throw new FormatException(gguf.path(), "is a '" + archName + "' model; export writes Gemma 3 (gemma3) and Gemma 4 (gemma4) models");
        };
        String clsName = settings.hfClass() != null ? settings.hfClass() : GemmaHfConfig.defaultClass(arch, gguf);
        GemmaArch.HfClass cls = GemmaArch.byHfClass(clsName).filter(c -> c.arch() == arch && c.name().endsWith("ForCausalLM"))
                .orElseThrow(() -> new IllegalArgumentException("class '" + clsName + "' cannot hold a " + archName + " text model; choose "
                        + (arch == GemmaArch.GEMMA3 ? "Gemma3ForCausalLM" : "Gemma4ForCausalLM or Gemma4UnifiedForCausalLM")));

        TokenizerFiles.Result tok = TokenizerFiles.of(gguf);
        GgufKeys keys = new GgufKeys(gguf, archName);
        ObjectNode config = GemmaHfConfig.build(keys, arch, cls, settings.dtype(), tok.tokens(), tok.specialIds());
        List<String> notes = new ArrayList<>(tok.notes());

        // NVFP4 weights take their per-tensor scales with them
        Set<String> consumed = new HashSet<>();
        for (GgufTensorInfo t : gguf.tensors()) {
            if (t.type() != GgmlType.NVFP4) continue;
            String base = stripWeight(t.name());
            consumed.add(base + ".scale");
            consumed.add(base + ".input_scale");
        }
        List<Unit> units = new ArrayList<>();
        List<String> excluded = new ArrayList<>();
        java.util.Set<Integer> routerScalesToWrite = new java.util.TreeSet<>();
        boolean nvfp4 = false, inputScales = false;
        for (GgufTensorInfo t : gguf.tensors()) {
            if (t.name().equals("rope_freqs.weight") && arch == GemmaArch.GEMMA4) continue; // generated; in config.json
            if (consumed.contains(t.name())) continue;
            long[] shape = reversed(t.ne());
            String base = stripWeight(t.name());
            java.util.regex.Matcher exps = EXPERTS.matcher(t.name());
            if (exps.matches() && (t.type() == GgmlType.NVFP4 || !exps.group(2).equals("down"))) {
                if (t.type() != GgmlType.NVFP4 || !settings.keepNvfp4()) {
                    throw new FormatException(gguf.path(), "tensor '" + t.name() + "' holds gate and up experts apart (" + t.type()
                            + "); export writes them only as NVFP4 per-expert tensors (--nvfp4 keep)");
                }
                nvfp4 = true;
                inputScales |= gguf.tensor(base + ".input_scale").isPresent();
                units.add(expertUnit(gguf, t, exps, shape));
                if (exps.group(2).equals("down")) routerScalesToWrite.add(Integer.parseInt(exps.group(1)));
                continue;
            }
            String hf = GemmaTensorNames.checkpointName(t.name(), arch).orElseThrow(() -> new FormatException(gguf.path(),
                    "tensor '" + t.name() + "' has no name in a " + cls.name() + " checkpoint"));
            if (t.type() == GgmlType.NVFP4 && settings.keepNvfp4()) {
                if (shape.length != 2) throw new FormatException(gguf.path(), "tensor '" + t.name() + "' is NVFP4 with " + shape.length + " dims; not supported yet");
                nvfp4 = true;
                String module = stripWeight(hf);
                long rows = shape[0], cols = shape[1];
                List<ExportedTensor> ts = new ArrayList<>();
                ts.add(new ExportedTensor(module + ".weight", SafetensorsDtype.U8, new long[] {rows, cols / 2}, t.name(), "NVFP4 codes",
                        new Nvfp4Unpacked(gguf.tensorData(t), rows, cols, Nvfp4Unpacked.Part.CODES)));
                ts.add(new ExportedTensor(module + ".weight_scale", SafetensorsDtype.F8_E4M3, new long[] {rows, cols / 16}, t.name(), "NVFP4 block scales",
                        new Nvfp4Unpacked(gguf.tensorData(t), rows, cols, Nvfp4Unpacked.Part.SCALES)));
                float s2 = scalar(gguf, base + ".scale", 1f);
                ts.add(new ExportedTensor(module + ".weight_scale_2", SafetensorsDtype.F32, new long[0], base + ".scale", "per-tensor scale", TensorBytes.f32(s2)));
                if (gguf.tensor(base + ".input_scale").isPresent()) {
                    inputScales = true;
                    ts.add(new ExportedTensor(module + ".input_scale", SafetensorsDtype.F32, new long[0], base + ".input_scale", "activation scale",
                            TensorBytes.f32(scalar(gguf, base + ".input_scale", 1f))));
                }
                units.add(new Unit(t.name(), ts));
                continue;
            }
            boolean norm = arch == GemmaArch.GEMMA3 && hf.endsWith("norm.weight");
            DenseRows.Transform tr = norm ? DenseRows.Transform.NORM_MINUS_ONE : DenseRows.Transform.NONE;
            SafetensorsDtype out = settings.dtype().safetensors();
            TensorBytes bytes;
            String what;
            if (!norm && ((t.type() == GgmlType.BF16 && out == SafetensorsDtype.BF16) || (t.type() == GgmlType.F32 && out == SafetensorsDtype.F32))) {
                bytes = TensorBytes.stored(gguf.tensorData(t));
                what = "copy";
            } else {
                float scale = 1f;
                if (t.type() == GgmlType.NVFP4) {
                    scale = scalar(gguf, base + ".scale", 1f);
                    if (gguf.tensor(base + ".input_scale").isPresent()) notes.add(t.name() + ": activation scale dropped (NVFP4 dequantized)");
                }
                bytes = new DenseRows(gguf.tensorData(t), t.type(), t.spec().rowLength(), t.spec().rows(), out, tr, scale);
                String conv = t.type().name().equals(out.name()) ? "" : t.type() + " -> " + out;
                what = norm ? "norm - 1" + (conv.isEmpty() ? "" : ", " + conv) : conv;
            }
            if (shape.length == 2 && isLinear(hf)) excluded.add(stripWeight(hf));
            units.add(new Unit(t.name(), List.of(new ExportedTensor(hf, out, shape, t.name(), what, bytes))));
        }

        // NVFP4 down experts carry the router's per-expert scale folded in; the checkpoint's router scale is then 1
        for (int layer : routerScalesToWrite) {
            int n = Math.toIntExact(keys.u("expert_count"));
            float[] ones = new float[n];
            java.util.Arrays.fill(ones, 1f);
            String name = "model.layers." + layer + ".router.per_expert_scale";
            SafetensorsDtype d = settings.dtype().safetensors();
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(n * d.size()).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (float v : ones) {
                if (d == SafetensorsDtype.BF16) b.putShort(dev.requant.formats.ggml.BFloat16.fromFloat(v));
                else b.putFloat(v);
            }
            units.add(new Unit("blk." + layer + ".ffn_down_exps.scale", List.of(new ExportedTensor(name, d, new long[] {n}, "-",
                    "1 (folded into the down experts' scales)", TensorBytes.stored(java.lang.foreign.MemorySegment.ofArray(b.array())))), false));
        }
        Map<String, byte[]> files = new LinkedHashMap<>();
        if (nvfp4) {
            if (config.path("tie_word_embeddings").asBoolean(false) && !excluded.contains("lm_head")) excluded.addFirst("lm_head");
            config.set("quantization_config", Nvfp4CheckpointWriter.modelOptQuantizationConfig(inputScales, excluded));
            files.put(QuantizationConfig.HF_QUANT_CONFIG, TokenizerFiles.json(Nvfp4CheckpointWriter.modelOptHfQuantConfig(inputScales, excluded)));
        }
        files.put("config.json", TokenizerFiles.json(config));
        files.put("generation_config.json", TokenizerFiles.json(generationConfig(gguf, tok.specialIds())));
        files.putAll(tok.files());
        files.put("README.md", ModelCard.readme(gguf.metadata(), gguf.path().getFileName().toString()));
        return new Plan(arch, cls.name(), settings, shards(units, settings.maxShardBytes()), files, notes);
    }

    /** Writes the plan's folder; {@code out} must not exist or be an empty folder. */
    public static Summary write(Plan plan, Path out, Listener listener) throws IOException {
        Path abs = out.toAbsolutePath();
        if (Files.exists(abs)) {
            boolean empty;
            try (Stream<Path> s = Files.isDirectory(abs) ? Files.list(abs) : Stream.of(abs)) {
                empty = Files.isDirectory(abs) && s.findAny().isEmpty();
            }
            if (!empty) throw new FileAlreadyExistsException(out.toString(), null, "exists; choose a new output folder");
        }
        Path parent = abs.getParent();
        if (parent == null || !Files.isDirectory(parent)) throw new IOException(out + ": parent folder " + parent + " does not exist");
        Path tmp = parent.resolve("." + abs.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp-requant");
        Files.createDirectory(tmp);
        boolean done = false;
        try {
            Summary s = writeInto(plan, tmp, listener);
            if (Files.isDirectory(abs)) Files.delete(abs);
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
            done = true;
            return s;
        } finally {
            if (!done) deleteTree(tmp);
        }
    }

    private static Summary writeInto(Plan plan, Path dir, Listener listener) throws IOException {
        Map<String, String> weightMap = new TreeMap<>();
        Map<String, Long> inexact = new LinkedHashMap<>();
        long total = 0;
        int count = 0;
        for (int i = 0; i < plan.shards().size(); i++) {
            List<ExportedTensor> tensors = new ArrayList<>();
            for (Unit u : plan.shards().get(i)) tensors.addAll(u.tensors());
            tensors.sort(Comparator.<ExportedTensor>comparingInt(t -> DTYPE_ORDER.indexOf(t.dtype())).thenComparing(ExportedTensor::name));
            String file = plan.shardName(i);
            try (SafetensorsWriter w = SafetensorsWriter.create(dir.resolve(file), Map.of("format", "pt"), tensors.stream().map(ExportedTensor::spec).toList())) {
                for (ExportedTensor t : tensors) {
                    try (SafetensorsWriter.TensorSink sink = w.beginTensor(t.name())) {
                        t.bytes().writeTo(sink);
                    }
                    if (t.bytes() instanceof DenseRows d && d.inexact() > 0) inexact.put(t.name(), d.inexact());
                    weightMap.put(t.name(), file);
                    total += t.byteSize();
                    count++;
                    if (listener != null) listener.tensorWritten(t);
                }
                w.commit();
            }
        }
        if (plan.shards().size() > 1) {
            ObjectNode index = JSON.createObjectNode();
            index.putObject("metadata").put("total_size", total);
            ObjectNode map = index.putObject("weight_map");
            weightMap.forEach(map::put);
            Files.write(dir.resolve(SafetensorsCheckpoint.INDEX), TokenizerFiles.json(index));
        }
        for (var e : plan.files().entrySet()) Files.write(dir.resolve(e.getKey()), e.getValue());
        return new Summary(count, total, inexact);
    }

    /**
     * Units in GGUF order, a new shard when the next unit's name sorts before the previous one (the converter sorts
     * names within a shard) or the shard would pass {@code max} bytes.
     */
    static List<List<Unit>> shards(List<Unit> units, long max) {
        List<List<Unit>> shards = new ArrayList<>();
        List<Unit> cur = new ArrayList<>();
        long bytes = 0;
        String prev = null;
        for (Unit u : units) {
            boolean outOfOrder = u.placedByName() && prev != null && u.key().compareTo(prev) < 0;
            if (!cur.isEmpty() && (outOfOrder || bytes + u.bytes() > max)) {
                shards.add(cur);
                cur = new ArrayList<>();
                bytes = 0;
            }
            cur.add(u);
            bytes += u.bytes();
            if (u.placedByName()) prev = u.key();
        }
        if (!cur.isEmpty()) shards.add(cur);
        return shards;
    }

    private static ObjectNode generationConfig(GgufTensors gguf, Map<String, Integer> ids) throws FormatException {
        ObjectNode gen = JSON.createObjectNode();
        for (String t : new String[] {"bos", "eos", "pad"}) if (ids.containsKey(t)) gen.put(t + "_token_id", ids.get(t));
        ModelCard.sampling(gguf.metadata(), gen);
        var suppress = gguf.metadata().getArray("tokenizer.ggml.suppress_tokens").orElse(null);
        if (suppress != null) {
            var arr = gen.putArray("suppress_tokens");
            for (int i = 0; i < suppress.length(); i++) {
                if (!(suppress.get(i) instanceof Long l)) throw new FormatException(gguf.path(), "tokenizer.ggml.suppress_tokens[" + i + "] is not a token id");
                arr.add(l);
            }
        }
        return gen;
    }

    private static final java.util.regex.Pattern EXPERTS = java.util.regex.Pattern.compile("blk\\.(\\d+)\\.ffn_(gate|up|down)_exps\\.weight");

    /**
     * A 3-D NVFP4 expert tensor as ModelOpt's per-expert modules ({@code model.layers.N.experts.e.gate_proj}...), the
     * layout of the published Gemma 4 26B-A4B NVFP4 exports: each expert's codes and block scales, its entry of
     * {@code .scale} as {@code weight_scale_2} and of {@code .input_scale} as {@code input_scale}.
     */
    private static Unit expertUnit(GgufTensors gguf, GgufTensorInfo t, java.util.regex.Matcher m, long[] shape) throws FormatException {
        int n = (int) shape[0];
        long rows = shape[1], cols = shape[2];
        String base = stripWeight(t.name());
        float[] s2 = perExpert(gguf, base + ".scale", n);
        float[] in = gguf.tensor(base + ".input_scale").isPresent() ? perExpert(gguf, base + ".input_scale", n) : null;
        long bytes = GgmlType.NVFP4.rowBytes(cols) * rows;
        List<ExportedTensor> ts = new ArrayList<>();
        for (int e = 0; e < n; e++) {
            String module = "model.layers." + m.group(1) + ".experts." + e + "." + m.group(2) + "_proj";
            var slice = gguf.tensorData(t).asSlice(e * bytes, bytes);
            ts.add(new ExportedTensor(module + ".weight", SafetensorsDtype.U8, new long[] {rows, cols / 2}, t.name() + "[" + e + "]", "NVFP4 codes",
                    new Nvfp4Unpacked(slice, rows, cols, Nvfp4Unpacked.Part.CODES)));
            ts.add(new ExportedTensor(module + ".weight_scale", SafetensorsDtype.F8_E4M3, new long[] {rows, cols / 16}, t.name() + "[" + e + "]",
                    "NVFP4 block scales", new Nvfp4Unpacked(slice, rows, cols, Nvfp4Unpacked.Part.SCALES)));
            ts.add(new ExportedTensor(module + ".weight_scale_2", SafetensorsDtype.F32, new long[0], base + ".scale[" + e + "]", "per-expert scale",
                    TensorBytes.f32(s2[e])));
            if (in != null) {
                ts.add(new ExportedTensor(module + ".input_scale", SafetensorsDtype.F32, new long[0], base + ".input_scale[" + e + "]", "activation scale",
                        TensorBytes.f32(in[e])));
            }
        }
        return new Unit(t.name(), ts);
    }

    private static float[] perExpert(GgufTensors gguf, String name, int n) throws FormatException {
        float[] v = new float[n];
        GgufTensorInfo t = gguf.tensor(name).orElse(null);
        if (t == null) {
            java.util.Arrays.fill(v, 1f);
            return v;
        }
        if (t.type() != GgmlType.F32 || t.spec().elementCount() != n) {
            throw new FormatException(gguf.path(), "tensor '" + name + "' is " + t.type() + " with " + t.spec().elementCount() + " values; expected F32 with one per expert (" + n + ")");
        }
        for (int e = 0; e < n; e++) v[e] = gguf.tensorData(t).get(LittleEndian.FLOAT, 4L * e);
        return v;
    }

    /** A projection matrix (as opposed to an embedding table): what ModelOpt would have quantized. */
    private static boolean isLinear(String hf) {
        return hf.endsWith("_proj.weight") || hf.endsWith("lm_head.weight") || hf.endsWith("per_layer_input_gate.weight")
                || hf.endsWith("per_layer_projection.weight") || hf.endsWith("per_layer_model_projection.weight");
    }

    private static float scalar(GgufTensors gguf, String name, float absent) throws FormatException {
        GgufTensorInfo t = gguf.tensor(name).orElse(null);
        if (t == null) return absent;
        if (t.type() != GgmlType.F32 || t.spec().elementCount() != 1) {
            throw new FormatException(gguf.path(), "tensor '" + name + "' is " + t.type() + " with " + t.spec().elementCount() + " values; a per-tensor scale is one F32");
        }
        return gguf.tensorData(t).get(LittleEndian.FLOAT, 0);
    }

    private static String stripWeight(String name) {
        return name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : name;
    }

    private static long[] reversed(long[] ne) {
        long[] s = new long[ne.length];
        for (int i = 0; i < ne.length; i++) s[i] = ne[ne.length - 1 - i];
        return s;
    }

    private static void deleteTree(Path p) {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(x);
        } catch (IOException ignored) {
            // best effort: the temporary folder is hidden and named .tmp-requant
        }
    }
}
