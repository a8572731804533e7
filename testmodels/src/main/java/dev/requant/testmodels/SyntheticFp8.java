package dev.requant.testmodels;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.Float8;
import dev.requant.formats.nvfp4.QuantizationConfig;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.safetensors.SafetensorsDtype;
import dev.requant.formats.safetensors.SafetensorsFile;
import dev.requant.formats.safetensors.SafetensorsTensor;
import dev.requant.formats.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * FP8 checkpoints in the layouts the producers write, made from a float (or NVFP4) checkpoint: the chosen weights
 * become F8_E4M3 codes {@code e4m3(w / scale)} (saturating, round to nearest even, as ModelOpt and llm-compressor
 * cast) with {@code scale = amax / 448} per tensor, per output row or per 128 x 128 tile; every other tensor is
 * copied as it is, and config.json (plus ModelOpt's hf_quant_config.json) gets the producer's declaration:
 * <ul>
 *   <li>{@link Layout#MODELOPT_FP8}: quant_algo FP8, scalar F32 {@code weight_scale} and {@code input_scale};</li>
 *   <li>{@link Layout#MODELOPT_FP8_PER_CHANNEL}: FP8_PER_CHANNEL_PER_TOKEN, {@code weight_scale} F32 {@code [out]};</li>
 *   <li>{@link Layout#MODELOPT_FP8_BLOCK}: FP8_PB_WO, {@code weight_scale} F32 {@code [ceil(out/128), ceil(in/128)]};</li>
 *   <li>{@link Layout#COMPRESSED_TENSORS_TENSOR}, {@link Layout#COMPRESSED_TENSORS_CHANNEL},
 *       {@link Layout#COMPRESSED_TENSORS_BLOCK}: format float-quantized, strategy tensor ({@code [1]} F32 scales),
 *       channel ({@code [out, 1]} BF16 scales, as llm-compressor's FP8_DYNAMIC stores them) or block
 *       ({@code block_structure [128, 128]});</li>
 *   <li>{@link Layout#MODELOPT_MIXED}: applied to a ModelOpt NVFP4 checkpoint, its FP8 weights next to the NVFP4
 *       ones and quant_algo MIXED_PRECISION with {@code quantized_layers} naming each module's algorithm.</li>
 * </ul>
 */
public final class SyntheticFp8 {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    public static final int BLOCK = 128;

    public enum Layout {
        MODELOPT_FP8, MODELOPT_FP8_PER_CHANNEL, MODELOPT_FP8_BLOCK, COMPRESSED_TENSORS_TENSOR, COMPRESSED_TENSORS_CHANNEL,
        COMPRESSED_TENSORS_BLOCK, MODELOPT_MIXED;

        boolean modelOpt() { return name().startsWith("MODELOPT"); }

        String granularity() {
            return name().endsWith("CHANNEL") ? "channel" : name().endsWith("BLOCK") ? "block" : "tensor";
        }
    }

    private SyntheticFp8() {}

    /** The attention projections of a Gemma checkpoint (what MIXED_PRECISION keeps in FP8). */
    public static final Predicate<String> ATTENTION = n -> n.matches(".*\\.layers\\.\\d+\\.self_attn\\.[qkvo]_proj\\.weight");
    /** Every decoder projection. */
    public static final Predicate<String> LINEARS = n -> n.matches(".*\\.layers\\.\\d+\\.(self_attn\\.[qkvo]_proj|mlp\\.(gate|up|down)_proj)\\.weight");

    public static Path write(Path source, Path out, Layout layout, Predicate<String> quantize) throws IOException {
        Files.createDirectories(out);
        List<String> quantized = new ArrayList<>();
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(source)) {
            Map<String, String> weightMap = new java.util.TreeMap<>();
            for (SafetensorsFile f : ck.files()) {
                List<SafetensorsCheckpoint.Entry> entries = ck.entries().stream().filter(e -> e.file() == f).toList();
                List<SafetensorsWriter.Spec> specs = new ArrayList<>();
                Map<String, byte[]> data = new LinkedHashMap<>();
                for (SafetensorsCheckpoint.Entry e : entries) {
                    SafetensorsTensor t = e.tensor();
                    boolean q = quantize.test(e.name()) && t.rank() == 2 && t.dtype() != SafetensorsDtype.U8 && t.dtype() != SafetensorsDtype.F8_E4M3;
                    if (!q) {
                        specs.add(new SafetensorsWriter.Spec(e.name(), t.dtype(), t.shape()));
                        data.put(e.name(), f.data(t).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                        continue;
                    }
                    quantized.add(e.name().substring(0, e.name().length() - ".weight".length()));
                    quantize(e, layout, specs, data);
                }
                for (SafetensorsWriter.Spec s : specs) weightMap.put(s.name(), f.path().getFileName().toString());
                try (SafetensorsWriter w = SafetensorsWriter.create(out.resolve(f.path().getFileName()), Map.of("format", "pt"), specs)) {
                    for (SafetensorsWriter.Spec s : specs) w.write(s.name(), data.get(s.name()));
                    w.commit();
                }
            }
            if (ck.files().size() > 1) {
                ObjectNode index = JSON.createObjectNode();
                index.putObject("metadata");
                ObjectNode m = index.putObject("weight_map");
                weightMap.forEach(m::put);
                Files.writeString(out.resolve(SafetensorsCheckpoint.INDEX), JSON.writeValueAsString(index));
            }
        }
        try (Stream<Path> s = Files.list(source)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                if (n.endsWith(".safetensors") || n.equals(SafetensorsCheckpoint.INDEX) || n.equals("config.json") || n.equals(QuantizationConfig.HF_QUANT_CONFIG)) continue;
                Files.copy(p, out.resolve(n));
            }
        }
        writeConfig(source, out, layout, quantized);
        return out;
    }

    private static void quantize(SafetensorsCheckpoint.Entry e, Layout layout, List<SafetensorsWriter.Spec> specs, Map<String, byte[]> data) {
        SafetensorsTensor t = e.tensor();
        int rows = Math.toIntExact(t.dim(0)), cols = Math.toIntExact(t.dim(1));
        float[] w = new float[rows * cols];
        t.dtype().toFloats(e.file().data(t), 0, w, 0, w.length);
        String g = layout == Layout.MODELOPT_MIXED ? "tensor" : layout.granularity();
        int gr = g.equals("block") ? (rows + BLOCK - 1) / BLOCK : g.equals("channel") ? rows : 1;
        int gc = g.equals("block") ? (cols + BLOCK - 1) / BLOCK : 1;
        float[] scale = new float[gr * gc];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int k = cellOf(g, r, c, gc);
                scale[k] = Math.max(scale[k], Math.abs(w[r * cols + c]));
            }
        }
        boolean bf16Scales = layout == Layout.COMPRESSED_TENSORS_CHANNEL;
        for (int k = 0; k < scale.length; k++) {
            float s = scale[k] > 0 ? scale[k] / 448f : 1f;
            scale[k] = bf16Scales ? BFloat16.round(s) : s;
        }
        byte[] codes = new byte[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) codes[r * cols + c] = Float8.e4m3FromFloatSaturating(w[r * cols + c] / scale[cellOf(g, r, c, gc)]);
        }
        String m = e.name().substring(0, e.name().length() - ".weight".length());
        specs.add(new SafetensorsWriter.Spec(e.name(), SafetensorsDtype.F8_E4M3, new long[] {rows, cols}));
        data.put(e.name(), codes);
        long[] shape = switch (g) {
            case "block" -> new long[] {gr, gc};
            case "channel" -> layout.modelOpt() ? new long[] {rows} : new long[] {rows, 1};
            default -> layout.modelOpt() ? new long[0] : new long[] {1};
        };
        ByteBuffer b = ByteBuffer.allocate(scale.length * (bf16Scales ? 2 : 4)).order(ByteOrder.LITTLE_ENDIAN);
        for (float s : scale) {
            if (bf16Scales) b.putShort(BFloat16.fromFloat(s));
            else b.putFloat(s);
        }
        specs.add(new SafetensorsWriter.Spec(m + ".weight_scale", bf16Scales ? SafetensorsDtype.BF16 : SafetensorsDtype.F32, shape));
        data.put(m + ".weight_scale", b.array());
        if (!g.equals("block") && !g.equals("channel")) {
            // a static activation scale, as FP8 W8A8 exports carry it (the converter drops it)
            specs.add(new SafetensorsWriter.Spec(m + ".input_scale", SafetensorsDtype.F32, layout.modelOpt() ? new long[0] : new long[] {1}));
            data.put(m + ".input_scale", ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0.0125f).array());
        }
    }

    private static int cellOf(String g, int r, int c, int gc) {
        return switch (g) {
            case "block" -> (r / BLOCK) * gc + c / BLOCK;
            case "channel" -> r;
            default -> 0;
        };
    }

    private static void writeConfig(Path source, Path out, Layout layout, List<String> quantized) throws IOException {
        ObjectNode root = (ObjectNode) JSON.readTree(source.resolve("config.json").toFile());
        ArrayNode ignore = JSON.createArrayNode().add("lm_head");
        if (layout == Layout.MODELOPT_MIXED) {
            ObjectNode q = root.path("quantization_config").isObject() ? (ObjectNode) root.get("quantization_config") : null;
            if (q == null || !"modelopt".equals(q.path("quant_method").asText())) {
                throw new IllegalArgumentException(source + ": MODELOPT_MIXED needs a ModelOpt NVFP4 checkpoint to start from");
            }
            Set<String> fp8 = Set.copyOf(quantized);
            ObjectNode layers = JSON.createObjectNode();
            try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(out)) {
                for (SafetensorsCheckpoint.Entry e : ck.entries()) {
                    if (!e.name().endsWith(".weight_scale")) continue;
                    String m = e.name().substring(0, e.name().length() - ".weight_scale".length());
                    if (fp8.contains(m)) layers.putObject(m).put("quant_algo", "FP8");
                    else if (e.tensor().rank() == 2) layers.putObject(m).put("quant_algo", "NVFP4").put("group_size", 16);
                }
            }
            q.put("quant_algo", "MIXED_PRECISION");
            q.set("quantized_layers", layers.deepCopy());
            ObjectNode h = JSON.createObjectNode();
            h.putObject("producer").put("name", "modelopt").put("version", "synthetic");
            ObjectNode hq = h.putObject("quantization");
            hq.put("quant_algo", "MIXED_PRECISION").putNull("kv_cache_quant_algo");
            hq.set("exclude_modules", q.path("exclude_modules").deepCopy());
            hq.set("quantized_layers", layers);
            Files.writeString(out.resolve(QuantizationConfig.HF_QUANT_CONFIG), JSON.writeValueAsString(h));
        } else if (layout.modelOpt()) {
            String algo = switch (layout) {
                case MODELOPT_FP8_PER_CHANNEL -> "FP8_PER_CHANNEL_PER_TOKEN";
                case MODELOPT_FP8_BLOCK -> "FP8_PB_WO";
                default -> "FP8";
            };
            ObjectNode q = root.putObject("quantization_config");
            q.put("quant_method", "modelopt").put("quant_algo", algo).putNull("kv_cache_quant_algo");
            q.set("exclude_modules", ignore.deepCopy());
            ObjectNode h = JSON.createObjectNode();
            h.putObject("producer").put("name", "modelopt").put("version", "synthetic");
            ObjectNode hq = h.putObject("quantization");
            hq.put("quant_algo", algo).putNull("kv_cache_quant_algo");
            hq.set("exclude_modules", ignore);
            Files.writeString(out.resolve(QuantizationConfig.HF_QUANT_CONFIG), JSON.writeValueAsString(h));
        } else {
            ObjectNode q = root.putObject("quantization_config");
            q.put("quant_method", "compressed-tensors").put("format", "float-quantized").put("quantization_status", "compressed");
            ObjectNode g = q.putObject("config_groups").putObject("group_0");
            g.putArray("targets").add("Linear");
            ObjectNode w = g.putObject("weights");
            w.put("num_bits", 8).put("type", "float").put("strategy", layout.granularity()).put("symmetric", true).put("dynamic", false).putNull("group_size");
            if (layout == Layout.COMPRESSED_TENSORS_BLOCK) w.putArray("block_structure").add(BLOCK).add(BLOCK);
            else w.putNull("block_structure");
            if (layout == Layout.COMPRESSED_TENSORS_TENSOR) {
                g.putObject("input_activations").put("num_bits", 8).put("type", "float").put("strategy", "tensor").put("symmetric", true).put("dynamic", false);
            } else {
                g.putObject("input_activations").put("num_bits", 8).put("type", "float").put("strategy", layout == Layout.COMPRESSED_TENSORS_BLOCK ? "group" : "token")
                        .put("symmetric", true).put("dynamic", true);
            }
            q.set("ignore", ignore);
        }
        Files.writeString(out.resolve("config.json"), JSON.writeValueAsString(root));
    }
}
