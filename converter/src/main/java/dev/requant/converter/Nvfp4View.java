package dev.requant.converter;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.nvfp4.BlockScaleCensus;
import dev.requant.formats.nvfp4.GgmlNvfp4Rows;
import dev.requant.formats.nvfp4.GlobalScale;
import dev.requant.formats.nvfp4.Nvfp4Checkpoint;
import dev.requant.formats.nvfp4.Nvfp4Tensor;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One NVFP4 weight as the verifier sees it, from a checkpoint (codes and E4M3 scales as the producer stored them) or
 * from a GGUF (GGML blocks, {@code .scale}, {@code .input_scale}), named by its GGUF name. Nothing is checked on the
 * way in: a NaN scale or a wrong global scale is what the verifier is there to report.
 */
public final class Nvfp4View {
    /** Dequantizes a row (producer's order: per-block scale first). */
    public interface Rows {
        void dequantize(long r, float[] dst, int off);
    }

    private final String ggufName;
    private final long rows, cols;
    private final BlockScaleCensus census;
    private final GlobalScale weightScale, inputScale;
    private final Rows reader;
    private final boolean fromGguf;

    Nvfp4View(String ggufName, long rows, long cols, BlockScaleCensus census, GlobalScale weightScale, GlobalScale inputScale, Rows reader,
            boolean fromGguf) {
        this.ggufName = ggufName;
        this.rows = rows;
        this.cols = cols;
        this.census = census;
        this.weightScale = weightScale;
        this.inputScale = inputScale;
        this.reader = reader;
        this.fromGguf = fromGguf;
    }

    public String ggufName() { return ggufName; }

    public long rows() { return rows; }

    public long cols() { return cols; }

    public BlockScaleCensus census() { return census; }

    /** The per-tensor weight scale (GGUF: the {@code .scale} value, 1 when absent). */
    public GlobalScale weightScale() { return weightScale; }

    /** The activation scale, or null. */
    public GlobalScale inputScale() { return inputScale; }

    /** Whether this came from a GGUF (block scales already split for llama.cpp) rather than a checkpoint. */
    public boolean fromGguf() { return fromGguf; }

    public void dequantizeRow(long r, float[] dst, int off) { reader.dequantize(r, dst, off); }

    /** The NVFP4 weights of an NVFP4 Hugging Face folder, by GGUF name, in checkpoint order. */
    public static List<Nvfp4View> ofCheckpoint(Path dir, SafetensorsCheckpoint ck) throws IOException {
        HfConfig config = HfConfig.read(dir);
        Nvfp4Checkpoint nv = Nvfp4Checkpoint.scan(dir, ck);
        List<Nvfp4View> out = new ArrayList<>();
        for (Nvfp4Tensor t : nv.nvfp4().values()) {
            String name = t.module() + ".weight";
            String gguf = GemmaTensorNames.map(name, config.arch()) instanceof GemmaTensorNames.Mapped m ? m.ggufName() : name;
            out.add(new Nvfp4View(gguf, t.rows(), t.cols(), BlockScaleCensus.of(t), t.weightScale(), t.inputScale(), t::dequantizeRow, false));
        }
        // experts: one view per expert, named <gguf weight>[e]
        for (var g : nv.experts()) {
            String kind = switch (g.projection()) {
                case "gate_proj" -> "ffn_gate_exps";
                case "up_proj" -> "ffn_up_exps";
                case "down_proj" -> "ffn_down_exps";
                default -> "ffn_gate_up_exps";
            };
            for (int e = 0; e < g.count(); e++) {
                Nvfp4Tensor t = g.experts().get(e);
                out.add(new Nvfp4View("blk." + g.layer() + "." + kind + ".weight[" + e + "]", t.rows(), t.cols(), BlockScaleCensus.of(t), t.weightScale(),
                        t.inputScale(), t::dequantizeRow, false));
            }
        }
        return out;
    }

    /** The FP8 weights of a Hugging Face folder (FP8 or MIXED_PRECISION), by GGUF name, in checkpoint order. */
    public static java.util.Map<String, dev.requant.formats.nvfp4.Fp8Linear> fp8OfCheckpoint(Path dir, SafetensorsCheckpoint ck) throws IOException {
        HfConfig config = HfConfig.read(dir);
        java.util.Map<String, dev.requant.formats.nvfp4.Fp8Linear> out = new java.util.LinkedHashMap<>();
        for (var f : Nvfp4Checkpoint.scan(dir, ck).fp8().values()) {
            String name = f.module() + ".weight";
            out.put(GemmaTensorNames.map(name, config.arch()) instanceof GemmaTensorNames.Mapped m ? m.ggufName() : name, f);
        }
        return out;
    }

    /** The NVFP4 tensors of a GGUF-shaped model, with their {@code .scale} and {@code .input_scale}. */
    public static List<Nvfp4View> ofModel(ModelSource src) {
        List<Nvfp4View> out = new ArrayList<>();
        for (GgufTensorSpec s : src.tensors()) {
            if (s.type() == GgmlType.NVFP4 && s.nDims() == 3) {
                out.addAll(ofExperts(src, s));
                continue;
            }
            if (s.type() != GgmlType.NVFP4 || s.nDims() != 2) continue;
            MemorySegment data = src.data(s.name());
            long cols = s.ne()[0], rows = s.ne()[1];
            String base = s.name().endsWith(".weight") ? s.name().substring(0, s.name().length() - ".weight".length()) : s.name();
            float scale = scalar(src, base + ".scale", 1f);
            Float in = src.tensor(base + ".input_scale").isPresent() ? scalar(src, base + ".input_scale", Float.NaN) : null;
            long rowBytes = GgmlNvfp4Rows.rowBytes(cols);
            byte[] scaleBytes = new byte[(int) (rows * (cols / 16))];
            for (long r = 0; r < rows; r++) {
                for (long b = 0; b < cols / 16; b++) scaleBytes[(int) (r * (cols / 16) + b)] = (byte) GgmlNvfp4Rows.scaleCode(data, r * rowBytes, b);
            }
            Rows rowsFn = (r, dst, off) -> GgmlNvfp4Rows.dequantizeRow(data, r * rowBytes, (int) cols, scale, dst, off);
            out.add(new Nvfp4View(s.name(), rows, cols, BlockScaleCensus.of(MemorySegment.ofArray(scaleBytes)), GlobalScale.multiplier(scale),
                    in == null ? null : GlobalScale.multiplier(in), rowsFn, true));
        }
        return out;
    }

    /** A 3-D NVFP4 expert tensor: one view per expert, with its entries of {@code .scale} and {@code .input_scale}. */
    private static List<Nvfp4View> ofExperts(ModelSource src, GgufTensorSpec s) {
        List<Nvfp4View> out = new ArrayList<>();
        MemorySegment data = src.data(s.name());
        long cols = s.ne()[0], rows = s.ne()[1];
        int n = (int) s.ne()[2];
        String base = s.name().endsWith(".weight") ? s.name().substring(0, s.name().length() - ".weight".length()) : s.name();
        MemorySegment scales = src.tensor(base + ".scale").isPresent() ? src.data(base + ".scale") : null;
        MemorySegment inputs = src.tensor(base + ".input_scale").isPresent() ? src.data(base + ".input_scale") : null;
        long rowBytes = GgmlNvfp4Rows.rowBytes(cols);
        for (int e = 0; e < n; e++) {
            long first = (long) e * rows;
            float scale = scales == null ? 1f : scales.get(LittleEndian.FLOAT, 4L * e);
            byte[] scaleBytes = new byte[(int) (rows * (cols / 16))];
            for (long r = 0; r < rows; r++) {
                for (long b = 0; b < cols / 16; b++) scaleBytes[(int) (r * (cols / 16) + b)] = (byte) GgmlNvfp4Rows.scaleCode(data, (first + r) * rowBytes, b);
            }
            Rows rowsFn = (r, dst, off) -> GgmlNvfp4Rows.dequantizeRow(data, (first + r) * rowBytes, (int) cols, scale, dst, off);
            out.add(new Nvfp4View(s.name() + "[" + e + "]", rows, cols, BlockScaleCensus.of(MemorySegment.ofArray(scaleBytes)), GlobalScale.multiplier(scale),
                    inputs == null ? null : GlobalScale.multiplier(inputs.get(LittleEndian.FLOAT, 4L * e)), rowsFn, true));
        }
        return out;
    }

    static float scalar(ModelSource src, String name, float absent) {
        return src.tensor(name).map(t -> src.data(name).get(LittleEndian.FLOAT, 0)).orElse(absent);
    }
}
