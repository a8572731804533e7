package dev.requant.formats.nvfp4;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.FormatException;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.safetensors.SafetensorsDtype;
import dev.requant.formats.safetensors.SafetensorsFile;
import dev.requant.formats.safetensors.SafetensorsTensor;
import dev.requant.formats.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * Writes a float Hugging Face folder as an NVFP4 checkpoint in ModelOpt's or compressed-tensors' layout: the chosen
 * linear weights are quantized by an {@link Nvfp4Quantizer}, every other tensor is copied byte for byte, the shards
 * keep their names, and config.json gains the {@code quantization_config} its readers look for (ModelOpt also gets the
 * legacy {@code hf_quant_config.json} with the fields vLLM requires: group_size, kv_cache_quant_algo,
 * exclude_modules). Tokenizer and other files are copied.
 *
 * <p>The whole folder is written beside the target under a temporary name and renamed into place at the end, so a
 * failure never leaves a half-written checkpoint. Tensors stream row by row; the heap holds one batch of rows.
 */
public final class Nvfp4CheckpointWriter {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final int ROWS_PER_BATCH = 64;

    /** What to quantize and how. */
    public record Plan(
            Nvfp4Format format,
            Nvfp4Quantizer quantizer,
            /** Stored weight names ({@code M.weight}) to quantize, in any order. */
            java.util.Set<String> weights,
            /** Per-column importance for a weight name, or null (then ModelOpt's amax scales). */
            Function<String, float[]> importance,
            /** Calibrated activation maximum per module, or null/absent (no input scale is written). */
            Map<String, Float> inputAmax,
            /** The fusion group of a weight (q/k/v, gate/up share one global scale, as vLLM expects), or null. */
            Function<String, String> fusionGroup,
            /** Module patterns recorded as excluded (exclude_modules / ignore). */
            List<String> excluded) {
    }

    /** Told about each tensor written. */
    public interface Listener {
        void quantized(Quantized result);
    }

    private Nvfp4CheckpointWriter() {}

    public static void write(Path source, Path target, Plan plan, Listener listener) throws IOException {
        Path abs = target.toAbsolutePath();
        if (Files.exists(abs)) {
            boolean emptyDir;
            try (Stream<Path> s = Files.isDirectory(abs) ? Files.list(abs) : Stream.of(abs)) {
                emptyDir = Files.isDirectory(abs) && s.findAny().isEmpty();
            }
            if (!emptyDir) throw new FileAlreadyExistsException(target.toString(), null, "exists; choose a new output folder");
        }
        Path parent = abs.getParent();
        if (parent != null && !Files.isDirectory(parent)) throw new IOException(target + ": parent folder " + parent + " does not exist");
        Path tmp = (parent == null ? Path.of(".") : parent).resolve("." + abs.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp-requant");
        Files.createDirectory(tmp);
        boolean done = false;
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(source)) {
            writeInto(source, ck, tmp, plan, listener);
            if (Files.isDirectory(abs)) Files.delete(abs);
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
            done = true;
        } finally {
            if (!done) deleteTree(tmp);
        }
    }

    private static void writeInto(Path source, SafetensorsCheckpoint ck, Path out, Plan plan, Listener listener) throws IOException {
        for (String w : plan.weights()) {
            SafetensorsCheckpoint.Entry e = ck.get(w).orElseThrow(() -> new IllegalArgumentException("no tensor '" + w + "' to quantize"));
            SafetensorsTensor t = e.tensor();
            if (t.rank() != 2 || !(t.dtype() == SafetensorsDtype.BF16 || t.dtype() == SafetensorsDtype.F16 || t.dtype() == SafetensorsDtype.F32)) {
                throw new FormatException(e.file().path(), "tensor '" + w + "' is " + t.dtype() + " " + java.util.Arrays.toString(t.shape()) + "; only 2-D float weights are quantized");
            }
            if (t.dim(1) % Nvfp4Tensor.BLOCK != 0) {
                throw new FormatException(e.file().path(), "tensor '" + w + "' has rows of " + t.dim(1) + " values, not a multiple of 16");
            }
        }
        Map<String, GlobalScale> globals = globalScales(ck, plan);
        // shards keep their names; the tensors of each are rewritten in the source order
        Map<String, String> weightMap = new TreeMap<>();
        long total = 0;
        for (SafetensorsFile f : ck.files()) {
            List<SafetensorsCheckpoint.Entry> entries = ck.entries().stream().filter(e -> e.file() == f).toList();
            List<SafetensorsWriter.Spec> specs = new ArrayList<>();
            for (SafetensorsCheckpoint.Entry e : entries) specs.addAll(specsFor(e, plan));
            for (SafetensorsWriter.Spec s : specs) {
                weightMap.put(s.name(), f.path().getFileName().toString());
                total += s.byteSize();
            }
            Map<String, String> md = new LinkedHashMap<>(f.metadata());
            md.putIfAbsent("format", "pt");
            try (SafetensorsWriter w = SafetensorsWriter.create(out.resolve(f.path().getFileName()), md, specs)) {
                for (SafetensorsCheckpoint.Entry e : entries) {
                    if (plan.weights().contains(e.name())) {
                        Quantized q = quantize(e, plan, globals.get(e.name()), w);
                        if (listener != null) listener.quantized(q);
                    } else {
                        w.write(e.name(), f.data(e.tensor()));
                    }
                }
                w.commit();
            }
        }
        if (Files.isRegularFile(source.resolve(SafetensorsCheckpoint.INDEX)) || ck.files().size() > 1) {
            ObjectNode index = JSON.createObjectNode();
            index.putObject("metadata").put("total_size", total);
            ObjectNode map = index.putObject("weight_map");
            weightMap.forEach(map::put);
            Files.writeString(out.resolve(SafetensorsCheckpoint.INDEX), JSON.writeValueAsString(index));
        }
        copyOtherFiles(source, out, ck);
        writeConfig(source, out, plan);
    }

    /** Per weight, the global scale: from the largest magnitude of its fusion group (ModelOpt unifies q/k/v, gate/up). */
    private static Map<String, GlobalScale> globalScales(SafetensorsCheckpoint ck, Plan plan) {
        Map<String, Float> amax = new HashMap<>();
        Map<String, Float> groupAmax = new HashMap<>();
        for (String w : plan.weights()) {
            SafetensorsCheckpoint.Entry e = ck.get(w).orElseThrow();
            float a = amax(e);
            amax.put(w, a);
            String g = plan.fusionGroup() == null ? null : plan.fusionGroup().apply(w);
            if (g != null) groupAmax.merge(g, a, Math::max);
        }
        Map<String, GlobalScale> out = new HashMap<>();
        for (String w : plan.weights()) {
            String g = plan.fusionGroup() == null ? null : plan.fusionGroup().apply(w);
            float a = g != null ? groupAmax.get(g) : amax.get(w);
            out.put(w, plan.quantizer().globalScale(a));
        }
        return out;
    }

    static float amax(SafetensorsCheckpoint.Entry e) {
        SafetensorsTensor t = e.tensor();
        MemorySegment data = e.file().data(t);
        long n = t.elementCount();
        float[] buf = new float[1 << 16];
        float a = 0f;
        for (long i = 0; i < n; i += buf.length) {
            int c = (int) Math.min(buf.length, n - i);
            t.dtype().toFloats(data, i, buf, 0, c);
            for (int j = 0; j < c; j++) {
                float v = Math.abs(buf[j]);
                if (v > a || Float.isNaN(v)) a = v;
            }
        }
        return a;
    }

    private static List<SafetensorsWriter.Spec> specsFor(SafetensorsCheckpoint.Entry e, Plan plan) {
        SafetensorsTensor t = e.tensor();
        if (!plan.weights().contains(e.name())) return List.of(new SafetensorsWriter.Spec(e.name(), t.dtype(), t.shape()));
        String m = module(e.name());
        long rows = t.dim(0), cols = t.dim(1);
        boolean ct = plan.format() == Nvfp4Format.COMPRESSED_TENSORS;
        List<SafetensorsWriter.Spec> s = new ArrayList<>();
        s.add(new SafetensorsWriter.Spec(ct ? m + ".weight_packed" : m + ".weight", SafetensorsDtype.U8, new long[] {rows, cols / 2}));
        s.add(new SafetensorsWriter.Spec(m + ".weight_scale", SafetensorsDtype.F8_E4M3, new long[] {rows, cols / Nvfp4Tensor.BLOCK}));
        long[] scalar = ct ? new long[] {1} : new long[0];
        s.add(new SafetensorsWriter.Spec(ct ? m + ".weight_global_scale" : m + ".weight_scale_2", SafetensorsDtype.F32, scalar));
        if (inputAmax(plan, m) != null) {
            s.add(new SafetensorsWriter.Spec(ct ? m + ".input_global_scale" : m + ".input_scale", SafetensorsDtype.F32, scalar));
        }
        return s;
    }

    private static Float inputAmax(Plan plan, String module) {
        if (plan.inputAmax() == null) return null;
        Float a = plan.inputAmax().get(module);
        return a == null || !(a > 0f) ? null : a;
    }

    public static String module(String weightName) {
        return weightName.endsWith(".weight") ? weightName.substring(0, weightName.length() - ".weight".length()) : weightName;
    }

    private static Quantized quantize(SafetensorsCheckpoint.Entry e, Plan plan, GlobalScale gs, SafetensorsWriter w) throws IOException {
        SafetensorsTensor t = e.tensor();
        MemorySegment src = e.file().data(t);
        int rows = Math.toIntExact(t.dim(0)), cols = Math.toIntExact(t.dim(1));
        String m = module(e.name());
        boolean ct = plan.format() == Nvfp4Format.COMPRESSED_TENSORS;
        float[] imp = plan.importance() == null ? null : plan.importance().apply(e.name());
        if (imp != null && imp.length != cols) {
            throw new FormatException(e.file().path(), "importance for '" + e.name() + "' has " + imp.length + " columns, the weight " + cols);
        }
        String weightName = ct ? m + ".weight_packed" : m + ".weight";
        long scaleRow = cols / Nvfp4Tensor.BLOCK;
        try (Arena arena = Arena.ofShared()) {
            // the codes stream to the file batch by batch; the block scales (1/8 of their size) wait for them
            MemorySegment scales = arena.allocate((long) rows * scaleRow);
            MemorySegment packed = arena.allocate((long) ROWS_PER_BATCH * (cols / 2));
            try (SafetensorsWriter.TensorSink sink = w.beginTensor(weightName)) {
                for (int r0 = 0; r0 < rows; r0 += ROWS_PER_BATCH) {
                    int n = Math.min(ROWS_PER_BATCH, rows - r0);
                    int base = r0;
                    IntStream.range(0, n).parallel().forEach(i -> {
                        float[] row = new float[cols];
                        long r = base + i;
                        t.dtype().toFloats(src, r * cols, row, 0, cols);
                        plan.quantizer().quantizeRow(row, 0, cols, gs, imp, packed, (long) i * (cols / 2), scales, r * scaleRow);
                    });
                    sink.write(packed.asSlice(0, (long) n * (cols / 2)));
                }
            }
            w.write(m + ".weight_scale", scales);
            w.write(ct ? m + ".weight_global_scale" : m + ".weight_scale_2", f32(gs.value()));
            Float ia = inputAmax(plan, m);
            GlobalScale is = ia == null ? null : plan.quantizer().inputScale(ia);
            if (is != null) w.write(ct ? m + ".input_global_scale" : m + ".input_scale", f32(is.value()));
            return new Quantized(e.name(), weightName, rows, cols, gs, is);
        }
    }

    /** What was written for one weight. */
    public record Quantized(String sourceName, String weightName, long rows, long cols, GlobalScale weightScale, GlobalScale inputScale) {}

    private static byte[] f32(float v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(v).array();
    }

    private static void copyOtherFiles(Path source, Path out, SafetensorsCheckpoint ck) throws IOException {
        List<Path> skip = new ArrayList<>();
        for (SafetensorsFile f : ck.files()) skip.add(f.path().toAbsolutePath().normalize());
        try (Stream<Path> s = Files.list(source)) {
            for (Path p : s.sorted(Comparator.naturalOrder()).toList()) {
                String n = p.getFileName().toString();
                if (!Files.isRegularFile(p) || skip.contains(p.toAbsolutePath().normalize()) || n.equals(SafetensorsCheckpoint.INDEX)
                        || n.equals("config.json") || n.equals(QuantizationConfig.HF_QUANT_CONFIG) || n.endsWith(".safetensors")) continue;
                Files.copy(p, out.resolve(n));
            }
        }
    }

    private static void writeConfig(Path source, Path out, Plan plan) throws IOException {
        Path cfg = source.resolve("config.json");
        ObjectNode root = Files.isRegularFile(cfg) ? (ObjectNode) JSON.readTree(cfg.toFile()) : JSON.createObjectNode();
        boolean a4 = plan.inputAmax() != null && !plan.inputAmax().isEmpty();
        if (plan.format() == Nvfp4Format.MODELOPT) {
            root.set("quantization_config", modelOptQuantizationConfig(a4, plan.excluded()));
            Files.writeString(out.resolve(QuantizationConfig.HF_QUANT_CONFIG), JSON.writeValueAsString(modelOptHfQuantConfig(a4, plan.excluded())));
        } else {
            root.set("quantization_config", compressedTensorsQuantizationConfig(a4, plan.excluded()));
        }
        Files.writeString(out.resolve("config.json"), JSON.writeValueAsString(root));
    }

    /**
     * config.json's {@code quantization_config} of a ModelOpt NVFP4 checkpoint: {@code NVFP4} with activation scales
     * ({@code a4}), else weight-only {@code W4A16_NVFP4}; the modules left unquantized as exclude_modules / ignore.
     */
    public static ObjectNode modelOptQuantizationConfig(boolean a4, List<String> excludedModules) {
        ArrayNode excluded = JSON.createArrayNode();
        excludedModules.forEach(excluded::add);
        ObjectNode q = JSON.createObjectNode();
        q.put("quant_method", "modelopt").put("quant_algo", a4 ? "NVFP4" : "W4A16_NVFP4").put("group_size", Nvfp4Tensor.BLOCK).putNull("kv_cache_quant_algo");
        q.set("exclude_modules", excluded.deepCopy());
        q.set("ignore", excluded.deepCopy());
        q.putObject("producer").put("name", "modelopt").put("version", "requant (ModelOpt NVFP4 export layout)");
        ObjectNode g = q.putObject("config_groups").putObject("group_0");
        g.putArray("targets").add("Linear");
        g.putObject("weights").put("type", "float").put("num_bits", 4).put("group_size", Nvfp4Tensor.BLOCK).put("dynamic", false);
        if (a4) g.putObject("input_activations").put("type", "float").put("num_bits", 4).put("group_size", Nvfp4Tensor.BLOCK).put("dynamic", false);
        return q;
    }

    /** The legacy {@code hf_quant_config.json} of a ModelOpt NVFP4 checkpoint, with the fields vLLM requires. */
    public static ObjectNode modelOptHfQuantConfig(boolean a4, List<String> excludedModules) {
        ArrayNode excluded = JSON.createArrayNode();
        excludedModules.forEach(excluded::add);
        ObjectNode h = JSON.createObjectNode();
        h.putObject("producer").put("name", "modelopt").put("version", "requant (ModelOpt NVFP4 export layout)");
        ObjectNode hq = h.putObject("quantization");
        hq.put("quant_algo", a4 ? "NVFP4" : "W4A16_NVFP4").putNull("kv_cache_quant_algo").put("group_size", Nvfp4Tensor.BLOCK);
        hq.set("exclude_modules", excluded);
        return h;
    }

    /** config.json's {@code quantization_config} of a compressed-tensors nvfp4-pack-quantized checkpoint. */
    public static ObjectNode compressedTensorsQuantizationConfig(boolean a4, List<String> excludedModules) {
        ArrayNode excluded = JSON.createArrayNode();
        excludedModules.forEach(excluded::add);
        ObjectNode q = JSON.createObjectNode();
        q.put("quant_method", "compressed-tensors").put("format", "nvfp4-pack-quantized").put("quantization_status", "compressed");
        ObjectNode g = q.putObject("config_groups").putObject("group_0");
        g.putArray("targets").add("Linear");
        g.put("format", "nvfp4-pack-quantized");
        g.putObject("weights").put("num_bits", 4).put("type", "float").put("strategy", "tensor_group").put("group_size", Nvfp4Tensor.BLOCK)
                .put("symmetric", true).put("dynamic", false).put("scale_dtype", "torch.float8_e4m3fn");
        if (a4) g.putObject("input_activations").put("num_bits", 4).put("type", "float").put("strategy", "tensor_group")
                .put("group_size", Nvfp4Tensor.BLOCK).put("symmetric", true).put("dynamic", "local").put("scale_dtype", "torch.float8_e4m3fn");
        q.set("ignore", excluded);
        return q;
    }

    static void deleteTree(Path p) {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(x);
        } catch (IOException ignored) {
            // best effort: the temporary folder is hidden and named .tmp-requant
        }
    }
}
