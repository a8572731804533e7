package dev.requant.converter.quantize;

import dev.requant.formats.gguf.FileType;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.Float16;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufWriter;
import dev.requant.formats.imatrix.ImatrixImportance;
import dev.requant.formats.io.LittleEndian;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.function.IntToDoubleFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** llama-quantize's refusals and metadata handling, on small hand-made GGUF files. */
class QuantizeChecksTest {
    @TempDir Path tmp;

    /** A 2-layer llama file: token_embd, output, norms and 2-D weights of 64 x 64, values from {@code value}. */
    Path model(String name, GgmlType weights, GgufMetadata extra, IntToDoubleFunction value) throws IOException {
        return model(name, weights, extra, value, 64);
    }

    Path model(String name, GgmlType weights, GgufMetadata extra, IntToDoubleFunction value, int n) throws IOException {
        List<GgufTensorSpec> specs = new java.util.ArrayList<>();
        specs.add(new GgufTensorSpec("token_embd.weight", weights, new long[] {n, n}));
        specs.add(new GgufTensorSpec("output.weight", weights, new long[] {n, n}));
        specs.add(new GgufTensorSpec("output_norm.weight", GgmlType.F32, new long[] {n}));
        for (int l = 0; l < 2; l++) {
            specs.add(new GgufTensorSpec("blk." + l + ".attn_norm.weight", GgmlType.F32, new long[] {n}));
            specs.add(new GgufTensorSpec("blk." + l + ".attn_q.weight", weights, new long[] {n, n}));
            specs.add(new GgufTensorSpec("blk." + l + ".ffn_down.weight", weights, new long[] {n, n}));
        }
        GgufMetadata m = new GgufMetadata();
        m.put("general.architecture", GgufValue.string("llama"));
        m.put("general.file_type", GgufValue.u32(0));
        m.put("llama.block_count", GgufValue.u32(2));
        for (var e : extra.asMap().entrySet()) m.put(e.getKey(), e.getValue());
        m.put("general.name", GgufValue.string(name));
        Path out = tmp.resolve(name + ".gguf");
        try (GgufWriter w = GgufWriter.create(out, m, specs); Arena arena = Arena.ofConfined()) {
            int k = 0;
            for (GgufTensorSpec s : specs) {
                MemorySegment seg = arena.allocate(s.byteSize());
                for (long i = 0; i < s.elementCount(); i++) {
                    float v = s.nDims() == 1 ? 1f : (float) value.applyAsDouble(k++);
                    switch (s.type()) {
                        case F32 -> seg.set(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, 4 * i, v);
                        case BF16 -> seg.set(LittleEndian.SHORT, 2 * i, BFloat16.fromFloat(v));
                        case F16 -> seg.set(LittleEndian.SHORT, 2 * i, Float16.fromFloat(v));
                        default -> throw new IllegalArgumentException(s.type().name());
                    }
                }
                w.writeTensor(s.name(), seg);
            }
            w.commit();
        }
        return out;
    }

    static IntToDoubleFunction random(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        return i -> r.nextGaussian() * 0.05;
    }

    QuantizePlan plan(Path in, QuantizeSettings s) throws IOException {
        try (GgufFile f = GgufFile.open(in)) {
            return QuantizePlanner.plan(f, s);
        }
    }

    void quantize(Path in, Path out, QuantizeSettings s) throws IOException {
        try (GgufFile f = GgufFile.open(in)) {
            GgufQuantizer.write(QuantizePlanner.plan(f, s), out, GgufQuantizer.Progress.NONE);
        }
    }

    static ImatrixInput imatrix(Map<String, float[]> values, List<String> datasets, int chunks) {
        return new ImatrixInput("imatrix.gguf", new ImatrixImportance(new TreeMap<>(values), datasets, chunks));
    }

    static float[] ones(int n) {
        float[] v = new float[n];
        java.util.Arrays.fill(v, 1f);
        return v;
    }

    @Test
    void metadataKeysAreCopiedThenVersionAndFileTypeMovedToTheEndAndSplitKeysRemoved() throws IOException {
        GgufMetadata extra = new GgufMetadata();
        extra.put("general.quantization_version", GgufValue.u32(1));
        extra.put("split.no", GgufValue.u16(0));
        extra.put("split.count", GgufValue.u16(1));
        extra.put("split.tensors.count", GgufValue.i32(9));
        extra.put("quantize.imatrix.file", GgufValue.string("old.dat"));
        Path in = model("meta", GgmlType.BF16, extra, random(1));
        Path out = tmp.resolve("meta.q8.gguf");
        String longName = "d/".repeat(70) + "imatrix.gguf";
        quantize(in, out, QuantizeSettings.of(FileType.Q8_0).withImatrix(new ImatrixInput(longName,
                new ImatrixImportance(new TreeMap<>(Map.of("blk.0.attn_q.weight", ones(64), "blk.1.attn_q.weight", ones(64))), List.of("a.txt", "b.txt"), 0))));
        try (GgufFile f = GgufFile.open(out)) {
            assertThat(f.metadata().keys()).containsExactly("general.architecture", "llama.block_count",
                    "general.name", "general.quantization_version", "general.file_type", "quantize.imatrix.file",
                    "quantize.imatrix.dataset", "quantize.imatrix.entries_count");
            assertThat(f.metadata().get("general.file_type").orElseThrow()).isEqualTo(GgufValue.u32(7));
            assertThat(f.metadata().get("general.quantization_version").orElseThrow()).isEqualTo(GgufValue.u32(2));
            assertThat(f.metadata().getString("quantize.imatrix.file").orElseThrow()).isEqualTo(longName.substring(0, 127));
            assertThat(f.metadata().getString("quantize.imatrix.dataset")).contains("a.txt");
            assertThat(f.metadata().get("quantize.imatrix.entries_count").orElseThrow()).isEqualTo(GgufValue.u32(2));
            assertThat(f.alignment()).isEqualTo(32);
        }
    }

    @Test
    void nonFiniteImatrixIsRefused() throws IOException {
        Path in = model("nan-imatrix", GgmlType.BF16, new GgufMetadata(), random(2));
        float[] w = ones(64);
        w[5] = Float.NaN;
        assertThatThrownBy(() -> plan(in, QuantizeSettings.of(FileType.Q4_0).withImatrix(imatrix(Map.of("blk.0.attn_q.weight", w), List.of(), 1))))
                .isInstanceOf(QuantizeException.class).hasMessageContaining("imatrix contains non-finite value NaN");
    }

    @Test
    void imatrixLengthMismatchIsFatalExceptForTokenEmbeddings() throws IOException {
        Path in = model("mismatch", GgmlType.BF16, new GgufMetadata(), random(3));
        QuantizePlan ok = plan(in, QuantizeSettings.of(FileType.Q4_0).withImatrix(imatrix(Map.of("token_embd.weight", ones(32)), List.of(), 1)));
        assertThat(ok.problems()).isEmpty();
        assertThat(ok.tensors().stream().filter(t -> t.name().equals("token_embd.weight")).findFirst().orElseThrow().imatrixNote())
                .contains("imatrix size 32 is different from tensor size 64");
        QuantizePlan bad = plan(in, QuantizeSettings.of(FileType.Q4_0).withImatrix(imatrix(Map.of("blk.1.ffn_down.weight", ones(128)), List.of(), 1)));
        assertThat(bad.problems()).containsExactly("blk.1.ffn_down.weight: imatrix size 128 is different from tensor size 64");
        Path out = tmp.resolve("mismatch.out.gguf");
        assertThatThrownBy(() -> GgufQuantizer.write(bad, out, GgufQuantizer.Progress.NONE)).isInstanceOf(QuantizeException.class)
                .hasMessageContaining("imatrix size 128 is different from tensor size 64");
        assertThat(out).doesNotExist();
    }

    @Test
    void quantizedInputNeedsAllowRequantize() throws IOException {
        Path in = model("requant", GgmlType.BF16, new GgufMetadata(), random(4));
        Path q8 = tmp.resolve("requant.q8.gguf");
        quantize(in, q8, QuantizeSettings.of(FileType.Q8_0));
        QuantizePlan refused = plan(q8, QuantizeSettings.of(FileType.Q4_0));
        assertThat(refused.problems()).first().asString().contains("requantizing from type q8_0 is disabled");
        assertThat(plan(q8, QuantizeSettings.of(FileType.Q8_0)).problems()).as("same type: copied").isEmpty();
        Path out = tmp.resolve("requant.q4.gguf");
        quantize(q8, out, QuantizeSettings.of(FileType.Q4_0).withAllowRequantize(true));
        try (GgufFile f = GgufFile.open(out)) {
            assertThat(f.tensor("blk.0.attn_q.weight").orElseThrow().type()).isEqualTo(GgmlType.Q4_0);
        }
    }

    @Test
    void sameInputAndOutputIsRefused() throws IOException {
        Path in = model("same", GgmlType.BF16, new GgufMetadata(), random(5));
        byte[] before = Files.readAllBytes(in);
        assertThatThrownBy(() -> quantize(in, in, QuantizeSettings.of(FileType.Q8_0)))
                .hasMessageContaining("input and output files are the same");
        assertThat(Files.readAllBytes(in)).isEqualTo(before);
    }

    @Test
    void splitShardsAreRefused() throws IOException {
        GgufMetadata extra = new GgufMetadata();
        extra.put("split.no", GgufValue.u16(0));
        extra.put("split.count", GgufValue.u16(3));
        Path in = model("split", GgmlType.BF16, extra, random(6));
        assertThatThrownBy(() -> plan(in, QuantizeSettings.of(FileType.Q8_0))).hasMessageContaining("shard 1 of 3");
    }

    @Test
    void veryLowBitTargetsRequireAnImatrix() throws IOException {
        Path in = model("iq", GgmlType.BF16, new GgufMetadata(), random(7), 256);
        QuantizePlan p = plan(in, QuantizeSettings.of(FileType.Q4_0).withPure(true).withTensorTypes(List.of(TensorTypeOverride.parse("attn_q=iq2_xxs"))));
        assertThat(p.requiresImatrix()).isTrue();
        Path narrow = model("iq-narrow", GgmlType.BF16, new GgufMetadata(), random(7));
        QuantizePlan fallback = plan(narrow, QuantizeSettings.of(FileType.Q4_0).withPure(true).withTensorTypes(List.of(TensorTypeOverride.parse("attn_q=iq2_xxs"))));
        assertThat(fallback.requiresImatrix()).as("64 columns: iq2_xxs falls back to iq4_nl").isFalse();
        assertThat(fallback.problems()).first().asString().contains("no encoder for type iq4_nl");
        assertThatThrownBy(() -> GgufQuantizer.write(p, tmp.resolve("iq.out.gguf"), GgufQuantizer.Progress.NONE)).isInstanceOf(QuantizeException.class);
    }

    @Test
    void nonFiniteInputDataIsRefusedAndLeavesNoOutput() throws IOException {
        Path in = model("nan", GgmlType.BF16, new GgufMetadata(), i -> i == 64 * 64 * 3 + 17 ? Float.POSITIVE_INFINITY : 0.01 * (i % 7));
        Path out = tmp.resolve("nan.out.gguf");
        assertThatThrownBy(() -> quantize(in, out, QuantizeSettings.of(FileType.Q4_0))).isInstanceOf(QuantizeException.class)
                .hasMessageContaining("has invalid data");
        assertThat(out).doesNotExist();
        try (var files = Files.list(tmp)) {
            assertThat(files.map(Path::getFileName).map(Path::toString)).noneMatch(n -> n.startsWith("nan.out"));
        }
    }

    @Test
    void valuesTooLargeForAnFp16ScaleFailValidation() throws IOException {
        Path in = model("huge", GgmlType.F32, new GgufMetadata(), i -> i == 64 * 64 * 2 + 5 ? 1e6 : 0.5);
        Path out = tmp.resolve("huge.out.gguf");
        assertThatThrownBy(() -> quantize(in, out, QuantizeSettings.of(FileType.Q4_0).withPure(true)))
                .isInstanceOf(QuantizeException.class).hasMessageContaining("quantized data validation failed");
        assertThat(out).doesNotExist();
        quantize(in, out, QuantizeSettings.of(FileType.Q8_0)); // 1e6 / 127 fits an fp16 scale
        assertThat(out).exists();
    }

    @Test
    void rowDataCheckFindsBadScales() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment q41 = a.allocate(40);
            q41.set(LittleEndian.SHORT, 20 + 2, (short) 0x7c00);
            assertThat(RowDataCheck.firstInvalid(GgmlType.Q4_1, q41, 0, 40)).isEqualTo(1);
            MemorySegment q6 = a.allocate(210);
            assertThat(RowDataCheck.firstInvalid(GgmlType.Q6_K, q6, 0, 210)).isEqualTo(-1);
            q6.set(LittleEndian.SHORT, 208, (short) 0x7e00);
            assertThat(RowDataCheck.firstInvalid(GgmlType.Q6_K, q6, 0, 210)).isEqualTo(0);
            MemorySegment mx = a.allocate(34);
            mx.set(LittleEndian.BYTE, 17, (byte) 0xFF);
            assertThat(RowDataCheck.firstInvalid(GgmlType.MXFP4, mx, 0, 34)).isEqualTo(1);
            MemorySegment bf = a.allocate(8);
            bf.set(LittleEndian.SHORT, 6, (short) 0xff81);
            assertThat(RowDataCheck.firstInvalid(GgmlType.BF16, bf, 0, 8)).isEqualTo(3);
        }
    }
}
