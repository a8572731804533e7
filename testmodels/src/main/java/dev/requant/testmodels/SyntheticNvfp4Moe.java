package dev.requant.testmodels;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.nvfp4.GlobalScale;
import dev.requant.formats.nvfp4.Nvfp4CheckpointWriter;
import dev.requant.formats.nvfp4.Nvfp4Format;
import dev.requant.formats.nvfp4.Nvfp4Quantizer;
import dev.requant.formats.nvfp4.Nvfp4Tensor;
import dev.requant.formats.nvfp4.QuantizationConfig;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.safetensors.SafetensorsDtype;
import dev.requant.formats.safetensors.SafetensorsTensor;
import dev.requant.formats.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A Gemma 4 mixture-of-experts checkpoint with NVFP4 experts, in the layouts exports of 26B-A4B use: from a BF16
 * checkpoint with transformers' fused {@code experts.gate_up_proj [E, 2ff, d]} and {@code experts.down_proj [E, d, ff]},
 * the experts are quantized with ModelOpt's math (one per-tensor scale per expert and projection) and written
 * <ul>
 *   <li>{@link Layout#PER_EXPERT}: {@code experts.<e>.{gate,up,down}_proj.*} (gate/up split), as the ModelOpt and
 *       compressed-tensors exports of 26B-A4B store them;</li>
 *   <li>{@link Layout#STACKED}: {@code experts.gate_up_proj.*} and {@code experts.down_proj.*} as 3-D tensors
 *       ({@code [E, rows, cols/2]} codes, {@code [E, rows, cols/16]} block scales, {@code [E]} per-tensor scales).</li>
 * </ul>
 * In ModelOpt's names ({@code weight}, {@code weight_scale}, {@code weight_scale_2}, {@code input_scale}) or
 * compressed-tensors' ({@code weight_packed}, {@code weight_global_scale} and {@code input_global_scale} as
 * divisors). Every other tensor is copied, except {@code router.per_expert_scale}, which gets positive values
 * 0.5..1.36 (so that folding it into the down projections' scales is visible).
 */
public final class SyntheticNvfp4Moe {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Pattern EXPERTS = Pattern.compile("(.*\\.layers\\.\\d+\\.experts)\\.(gate_up_proj|down_proj)");

    public enum Layout { PER_EXPERT, STACKED }

    private SyntheticNvfp4Moe() {}

    public static Path write(Path bf16, Path out, Nvfp4Format format, Layout layout) throws IOException {
        Files.createDirectories(out);
        boolean ct = format == Nvfp4Format.COMPRESSED_TENSORS;
        Nvfp4Quantizer q = Nvfp4Quantizer.of(format);
        List<SafetensorsWriter.Spec> specs = new ArrayList<>();
        Map<String, byte[]> data = new LinkedHashMap<>();
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(bf16)) {
            for (SafetensorsCheckpoint.Entry e : ck.entries()) {
                SafetensorsTensor t = e.tensor();
                Matcher m = EXPERTS.matcher(e.name());
                if (m.matches() && t.rank() == 3) {
                    experts(e, m.group(1), m.group(2), layout, ct, q, specs, data);
                    continue;
                }
                byte[] bytes = e.file().data(t).toArray(ValueLayout.JAVA_BYTE);
                if (e.name().endsWith(".router.per_expert_scale")) {
                    for (int i = 0; i < t.elementCount(); i++) {
                        short v = BFloat16.fromFloat(0.5f + (i % 7) / 7f);
                        bytes[2 * i] = (byte) v;
                        bytes[2 * i + 1] = (byte) (v >> 8);
                    }
                }
                specs.add(new SafetensorsWriter.Spec(e.name(), t.dtype(), t.shape()));
                data.put(e.name(), bytes);
            }
        }
        try (SafetensorsWriter w = SafetensorsWriter.create(out.resolve("model.safetensors"), Map.of("format", "pt"), specs)) {
            for (SafetensorsWriter.Spec s : specs) w.write(s.name(), data.get(s.name()));
            w.commit();
        }
        try (Stream<Path> s = Files.list(bf16)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                if (n.endsWith(".safetensors") || n.equals(SafetensorsCheckpoint.INDEX) || n.equals("config.json")) continue;
                Files.copy(p, out.resolve(n));
            }
        }
        ObjectNode root = (ObjectNode) JSON.readTree(bf16.resolve("config.json").toFile());
        List<String> excluded = List.of("lm_head", "re:.*self_attn.*", "re:.*mlp.*", "re:.*router.*");
        if (ct) {
            root.set("quantization_config", Nvfp4CheckpointWriter.compressedTensorsQuantizationConfig(true, excluded));
        } else {
            root.set("quantization_config", Nvfp4CheckpointWriter.modelOptQuantizationConfig(true, List.of("lm_head", "*self_attn*", "*mlp*", "*router*")));
            Files.writeString(out.resolve(QuantizationConfig.HF_QUANT_CONFIG),
                    JSON.writeValueAsString(Nvfp4CheckpointWriter.modelOptHfQuantConfig(true, List.of("lm_head", "*self_attn*", "*mlp*", "*router*"))));
        }
        Files.writeString(out.resolve("config.json"), JSON.writeValueAsString(root));
        return out;
    }

    private static void experts(SafetensorsCheckpoint.Entry e, String prefix, String proj, Layout layout, boolean ct, Nvfp4Quantizer q,
                                List<SafetensorsWriter.Spec> specs, Map<String, byte[]> data) {
        SafetensorsTensor t = e.tensor();
        int n = Math.toIntExact(t.dim(0)), rows = Math.toIntExact(t.dim(1)), cols = Math.toIntExact(t.dim(2));
        float[] w = new float[n * rows * cols];
        t.dtype().toFloats(e.file().data(t), 0, w, 0, w.length);
        // the parts each expert is quantized in: gate and up halves get their own per-tensor scale when split
        boolean split = layout == Layout.PER_EXPERT && proj.equals("gate_up_proj");
        int parts = split ? 2 : 1, partRows = rows / parts;
        String[] names = split ? new String[] {"gate_proj", "up_proj"} : new String[] {proj};
        byte[][] packed = new byte[parts][n * partRows * cols / 2], scales = new byte[parts][n * partRows * cols / 16];
        float[][] global = new float[parts][n];
        for (int x = 0; x < n; x++) {
            for (int p = 0; p < parts; p++) {
                float amax = 0;
                int base = (x * rows + p * partRows) * cols;
                for (int i = 0; i < partRows * cols; i++) amax = Math.max(amax, Math.abs(w[base + i]));
                GlobalScale gs = q.globalScale(amax);
                global[p][x] = gs.value();
                for (int r = 0; r < partRows; r++) {
                    long row = (long) x * partRows + r;
                    q.quantizeRow(w, base + r * cols, cols, gs, null, MemorySegment.ofArray(packed[p]), row * (cols / 2),
                            MemorySegment.ofArray(scales[p]), row * (cols / Nvfp4Tensor.BLOCK));
                }
            }
        }
        float input = 8f / (6f * 448f); // a calibrated activation maximum of 8
        for (int p = 0; p < parts; p++) {
            if (layout == Layout.STACKED) {
                String mod = prefix + "." + names[p];
                add(specs, data, mod + (ct ? ".weight_packed" : ".weight"), SafetensorsDtype.U8, new long[] {n, partRows, cols / 2}, packed[p]);
                add(specs, data, mod + ".weight_scale", SafetensorsDtype.F8_E4M3, new long[] {n, partRows, cols / 16}, scales[p]);
                add(specs, data, mod + (ct ? ".weight_global_scale" : ".weight_scale_2"), SafetensorsDtype.F32, new long[] {n}, f32(global[p]));
                float[] in = new float[n];
                java.util.Arrays.fill(in, ct ? 1f / input : input);
                add(specs, data, mod + (ct ? ".input_global_scale" : ".input_scale"), SafetensorsDtype.F32, new long[] {n}, f32(in));
                continue;
            }
            int pBytes = partRows * cols / 2, sBytes = partRows * cols / 16;
            for (int x = 0; x < n; x++) {
                String mod = prefix + "." + x + "." + names[p];
                long[] scalar = ct ? new long[] {1} : new long[0];
                add(specs, data, mod + (ct ? ".weight_packed" : ".weight"), SafetensorsDtype.U8, new long[] {partRows, cols / 2},
                        java.util.Arrays.copyOfRange(packed[p], x * pBytes, (x + 1) * pBytes));
                add(specs, data, mod + ".weight_scale", SafetensorsDtype.F8_E4M3, new long[] {partRows, cols / 16},
                        java.util.Arrays.copyOfRange(scales[p], x * sBytes, (x + 1) * sBytes));
                add(specs, data, mod + (ct ? ".weight_global_scale" : ".weight_scale_2"), SafetensorsDtype.F32, scalar, f32(new float[] {global[p][x]}));
                add(specs, data, mod + (ct ? ".input_global_scale" : ".input_scale"), SafetensorsDtype.F32, scalar, f32(new float[] {ct ? 1f / input : input}));
            }
        }
    }

    private static void add(List<SafetensorsWriter.Spec> specs, Map<String, byte[]> data, String name, SafetensorsDtype d, long[] shape, byte[] bytes) {
        specs.add(new SafetensorsWriter.Spec(name, d, shape));
        data.put(name, bytes);
    }

    private static byte[] f32(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) b.putFloat(x);
        return b.array();
    }
}
