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
import java.lang.foreign.ValueLayout;
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
        // issue 18.7: the error names the imatrix, the file at fault, not the model
        assertThatThrownBy(() -> GgufQuantizer.write(bad, out, GgufQuantizer.Progress.NONE)).isInstanceOf(QuantizeException.class)
                .hasMessage("imatrix.gguf: blk.1.ffn_down.weight: imatrix size 128 is different from tensor size 64 in " + in
                        + " (an imatrix of another model?)");
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
        assertThat(fallback.refusal()).isEmpty();
        assertThat(fallback.tensors().stream().filter(t -> t.name().equals("blk.0.attn_q.weight")).findFirst().orElseThrow().output().type())
                .isEqualTo(GgmlType.IQ4_NL);
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

    /** The check runs in slices of whole blocks or elements: an index past the first slices counts from the start. */
    @Test
    void rowDataCheckCountsAcrossSlices() {
        try (Arena a = Arena.ofConfined()) {
            int blocks = 5000; // 1 MiB of Q6_K, many slices; an offset into the segment as a chunk inside a file has
            MemorySegment q6 = a.allocate(64 + 210L * blocks);
            assertThat(RowDataCheck.firstInvalid(GgmlType.Q6_K, q6, 64, 210L * blocks)).isEqualTo(-1);
            q6.set(LittleEndian.SHORT, 64 + 210L * 4321 + 208, (short) 0x7c00);
            q6.set(LittleEndian.SHORT, 64 + 210L * 4999 + 208, (short) 0x7c00);
            assertThat(RowDataCheck.firstInvalid(GgmlType.Q6_K, q6, 64, 210L * blocks)).isEqualTo(4321);
            MemorySegment f32 = a.allocate(4L * 100_003);
            f32.set(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * 100_002, Float.NaN);
            assertThat(RowDataCheck.firstInvalid(GgmlType.F32, f32, 0, 4L * 100_003)).isEqualTo(100_002);
            MemorySegment bf = a.allocate(2L * 70_001);
            bf.set(LittleEndian.SHORT, 2L * 9000, (short) 0x7f80);
            assertThat(RowDataCheck.firstInvalid(GgmlType.BF16, bf, 0, 2L * 70_001)).isEqualTo(9000);
        }
    }

    /** Issue 18.7: a GGUF without tensors, or with a nested array llama.cpp cannot read, is refused, not "quantized". */
    @Test
    void filesThereIsNothingToQuantizeInOrThatLlamaCppCannotReadAreRefused() throws IOException {
        dev.requant.formats.io.LittleEndianBuffer b = new dev.requant.formats.io.LittleEndianBuffer();
        b.i32(GgufFile.MAGIC).i32(3).i64(0).i64(1).ggufString("general.architecture").i32(8).ggufString("llama");
        Path empty = java.nio.file.Files.write(tmp.resolve("vocab-only.gguf"), b.toByteArray());
        assertThatThrownBy(() -> plan(empty, QuantizeSettings.of(FileType.Q8_0))).isInstanceOf(QuantizeException.class)
                .hasMessage(empty + ": has no tensors (a vocabulary-only file?); there is nothing to quantize");

        dev.requant.formats.io.LittleEndianBuffer n = new dev.requant.formats.io.LittleEndianBuffer();
        n.i32(GgufFile.MAGIC).i32(3).i64(1).i64(2).ggufString("general.architecture").i32(8).ggufString("llama");
        n.ggufString("x.nested").i32(9).i32(9).i64(1).i32(0).i64(0);
        n.ggufString("blk.0.attn_q.weight").i32(2).i64(32).i64(32).i32(GgmlType.F32.id()).i64(0);
        n.zeros(32 - n.size() % 32).zeros(32 * 32 * 4);
        Path nested = java.nio.file.Files.write(tmp.resolve("nested.gguf"), n.toByteArray());
        assertThatThrownBy(() -> plan(nested, QuantizeSettings.of(FileType.Q8_0))).isInstanceOf(QuantizeException.class)
                .hasMessage(nested + ": key 'x.nested' is a nested array, which llama.cpp refuses");
    }

    @Test
    void aTypeThatNeedsAnImatrixIsRefusedInOneLineBeforeAnythingIsWritten() throws IOException {
        Path in = model("iq", GgmlType.F32, new GgufMetadata(), random(3), 256);
        Path out = tmp.resolve("iq2.gguf");
        QuantizePlan plan = plan(in, QuantizeSettings.of(FileType.IQ2_XXS));
        assertThat(plan.refusal()).contains("IQ2_XXS needs an importance matrix (--imatrix FILE): blk.0.attn_q.weight would be iq2_xxs,"
                + " which llama.cpp makes only with importance data");
        assertThatThrownBy(() -> quantize(in, out, QuantizeSettings.of(FileType.IQ2_XXS)))
                .isInstanceOf(QuantizeException.class).hasMessage(in + ": " + plan.refusal().orElseThrow());
        assertThat(out).doesNotExist();
        // Q2_K needs none, but the same Q2_K tensors in a Q2_K_S file do (tensor_requires_imatrix)
        assertThat(plan(in, QuantizeSettings.of(FileType.Q2_K)).refusal()).isEmpty();
        assertThat(plan(in, QuantizeSettings.of(FileType.Q2_K_S)).refusal().orElseThrow()).startsWith("Q2_K_S needs an importance matrix");
    }

    @Test
    void pureWithAnImatrixWithoutTokenEmbeddingsSaysWhatIsMissingWhereLlamaQuantizeAsserts() throws IOException {
        Path in = model("pure-iq", GgmlType.F32, new GgufMetadata(), random(4), 256);
        Map<String, float[]> entries = new TreeMap<>();
        for (String n : List.of("output.weight", "blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.1.attn_q.weight", "blk.1.ffn_down.weight")) {
            entries.put(n, ones(256));
        }
        for (FileType t : List.of(FileType.IQ1_S, FileType.IQ2_XXS, FileType.IQ2_XS, FileType.IQ2_S)) {
            QuantizeSettings s = QuantizeSettings.of(t).withPure(true).withImatrix(imatrix(entries, List.of("c.txt"), 10));
            assertThat(plan(in, s).refusal()).as(t.name()).contains("token_embd.weight: " + t.defaultType().ggmlName()
                    + " cannot be made without importance data and the imatrix imatrix.gguf has no entry for token_embd.weight"
                    + " (llama-quantize aborts on it); choose another type for it with --token-embedding-type");
            assertThat(plan(in, s.withTokenEmbeddingType(GgmlType.Q4_K)).refusal()).as(t.name()).isEmpty();
        }
        // IQ1_M and IQ3_XXS encode without importance data, so token_embd is made as llama-quantize makes it
        QuantizeSettings m = QuantizeSettings.of(FileType.IQ1_M).withPure(true).withImatrix(imatrix(entries, List.of("c.txt"), 10));
        assertThat(plan(in, m).refusal()).isEmpty();
    }

    @Test
    void kvOverridesParseAsLlamaCppAndFeedTheTypeRules() throws IOException {
        assertThat(KvOverride.parse("a.b=int:-7").toGgufValue()).isEqualTo(GgufValue.u32(7));
        assertThat(KvOverride.parse("a.b=float:0.1").toGgufValue()).isEqualTo(GgufValue.f32(0.1f));
        assertThat(KvOverride.parse("a.b=bool:false").toGgufValue()).isEqualTo(GgufValue.bool(false));
        assertThat(KvOverride.parse("a.b=str:x=y:z").toGgufValue()).isEqualTo(GgufValue.string("x=y:z"));
        assertThatThrownBy(() -> KvOverride.parse("a.b")).hasMessageContaining("malformed KV override");
        assertThatThrownBy(() -> KvOverride.parse("a.b=long:1")).hasMessageContaining("invalid type for KV override");
        assertThatThrownBy(() -> KvOverride.parse("a.b=bool:yes")).hasMessageContaining("invalid boolean value");
        assertThatThrownBy(() -> KvOverride.parse("a.b=int:12abc")).hasMessageContaining("invalid int value '12abc'");
        assertThatThrownBy(() -> KvOverride.parse("a.b=str:" + "x".repeat(128))).hasMessageContaining("cannot exceed 127");
        assertThatThrownBy(() -> KvOverride.parse("k".repeat(128) + "=int:1")).hasMessageContaining("malformed");

        GgufMetadata m = new GgufMetadata();
        m.put("general.architecture", GgufValue.string("llama"));
        m.put("llama.block_count", GgufValue.u32(16));
        m.put("llama.attention.head_count", GgufValue.u32(4));
        m.put("llama.attention.head_count_kv", GgufValue.u32(2));
        Path f = tmp.resolve("facts.gguf");
        assertThat(ModelFacts.of(m, f).nGqa()).isEqualTo(2);
        ModelFacts o = ModelFacts.of(m, f, List.of(KvOverride.parse("llama.attention.head_count=int:8"),
                KvOverride.parse("llama.block_count=int:20"), KvOverride.parse("llama.block_count=int:30"),
                KvOverride.parse("llama.expert_count=str:8")));
        assertThat(o.nGqa()).as("8 / 2").isEqualTo(4);
        assertThat(o.nLayer()).as("the loader keeps the first override of a key").isEqualTo(20);
        assertThat(o.nExpert()).as("a str override of an int is ignored (with a warning) by the loader").isZero();
    }

    @Test
    void pruneLayersRenumbersAsRemapLayer() {
        LayerPrune p = new LayerPrune(List.of(1, 3));
        assertThat(p.rename("token_embd.weight")).isEqualTo("token_embd.weight");
        assertThat(p.rename("blk.0.attn_q.weight")).isEqualTo("blk.0.attn_q.weight");
        assertThat(p.rename("blk.1.attn_q.weight")).isNull();
        assertThat(p.rename("blk.2.attn_q.weight")).isEqualTo("blk.1.attn_q.weight");
        assertThat(p.rename("blk.2.ffn_up.weight")).isEqualTo("blk.1.ffn_up.weight");
        assertThat(p.rename("blk.3.attn_q.weight")).isNull();
        assertThat(p.rename("blk.4.attn_q.weight")).isEqualTo("blk.2.attn_q.weight");
        assertThat(p.blockCount()).isEqualTo(3);
    }
}
