package dev.requant.formats.imatrix;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufWriter;
import dev.requant.formats.io.LittleEndianBuffer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Writers and readers on synthetic imatrices: experts, zero counts, odd names, and malformed files. */
class ImatrixFilesTest {
    @TempDir Path tmp;

    static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.nextFloat() * 100f;
        return v;
    }

    static Imatrix synthetic() {
        Random r = new Random(7);
        return Imatrix.raw(Map.of(
                "blk.0.ffn_down_exps.weight", new ImatrixEntry("blk.0.ffn_down_exps.weight", random(r, 3 * 64), new long[] {512, 0, 77}),
                "blk.0.attn_q.weight", new ImatrixEntry("blk.0.attn_q.weight", random(r, 96), new long[] {1024}),
                "blk.1.attn_q.weight", new ImatrixEntry("blk.1.attn_q.weight", random(r, 96), new long[] {0}),
                "blk.10.attn_q.weight", new ImatrixEntry("blk.10.attn_q.weight", random(r, 96), new long[] {1000})),
                List.of("a.txt", "b.txt"), 4, 256);
    }

    @Test
    void ggufRoundTripKeepsExpertsZeroCountsAndLlamaCppShapes() throws IOException {
        Imatrix im = synthetic();
        Path p = tmp.resolve("x.gguf");
        ImatrixWriter.writeGguf(p, im);
        try (GgufFile f = GgufFile.open(p)) {
            assertThat(f.metadata().keys()).containsExactly("general.type", "imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size");
            assertThat(f.tensors().stream().map(GgufTensorInfo::name).toList()).containsExactly(
                    "blk.0.attn_q.weight.in_sum2", "blk.0.attn_q.weight.counts",
                    "blk.0.ffn_down_exps.weight.in_sum2", "blk.0.ffn_down_exps.weight.counts",
                    "blk.1.attn_q.weight.in_sum2", "blk.1.attn_q.weight.counts",
                    "blk.10.attn_q.weight.in_sum2", "blk.10.attn_q.weight.counts");
            assertThat(f.tensor("blk.0.attn_q.weight.in_sum2").orElseThrow().ne()).containsExactly(96);
            assertThat(f.tensor("blk.0.attn_q.weight.counts").orElseThrow().ne()).containsExactly(1);
            assertThat(f.tensor("blk.0.ffn_down_exps.weight.in_sum2").orElseThrow().ne()).containsExactly(64, 3);
            assertThat(f.tensor("blk.0.ffn_down_exps.weight.counts").orElseThrow().ne()).containsExactly(1, 3);
        }
        Imatrix back = ImatrixReader.read(p);
        assertThat(back.entries()).isEqualTo(im.entries());
        assertThat(back.datasets()).containsExactly("a.txt", "b.txt");
        assertThat(back.chunkCount()).isEqualTo(4);
        assertThat(back.chunkSize()).isEqualTo(256);
    }

    @Test
    void importanceDividesByCountsAndUsesOneForExpertsWithoutTokens() throws IOException {
        Imatrix im = synthetic();
        ImatrixImportance imp = ImatrixImportance.of(im, ImatrixFilter.ALL, null);
        ImatrixEntry exps = im.entry("blk.0.ffn_down_exps.weight").orElseThrow();
        float[] v = imp.forWeight(exps.name()).orElseThrow();
        for (int j = 0; j < 64; j++) {
            assertThat(v[j]).isEqualTo(exps.sums()[j] / 512f);
            assertThat(v[64 + j]).isEqualTo(1.0f);
            assertThat(v[128 + j]).isEqualTo(exps.sums()[128 + j] / 77f);
        }
        assertThat(imp.forWeight("blk.1.attn_q.weight").orElseThrow()).containsOnly(1.0f);
    }

    @Test
    void datWriterSkipsEntriesWithoutDataAndStoresOneForPartialExperts() throws IOException {
        Imatrix im = synthetic();
        Path p = tmp.resolve("x.dat");
        ImatrixWriter.writeDat(p, im);
        Imatrix back = ImatrixReader.read(p);
        assertThat(back.legacy()).isTrue();
        assertThat(back.entries().keySet()).containsExactly("blk.0.attn_q.weight", "blk.0.ffn_down_exps.weight", "blk.10.attn_q.weight");
        ImatrixEntry exps = back.entry("blk.0.ffn_down_exps.weight").orElseThrow();
        assertThat(exps.counts()).containsExactly(2L); // ceil(512 / 256)
        ImatrixEntry src = im.entry("blk.0.ffn_down_exps.weight").orElseThrow();
        for (int j = 0; j < 64; j++) {
            assertThat(exps.sums()[j]).isEqualTo(src.sums()[j] / 512f * 2f);
            assertThat(exps.sums()[64 + j]).isEqualTo(2f); // an expert that saw nothing stores 1 * ncall
            assertThat(exps.sums()[128 + j]).isEqualTo(src.sums()[128 + j] / 77f * 2f);
        }
        assertThat(back.entry("blk.10.attn_q.weight").orElseThrow().counts()).containsExactly(4L); // ceil(1000/256)
        assertThat(back.chunkCount()).isEqualTo(4);
        assertThat(back.datasets()).containsExactly("b.txt");
    }

    @Test
    void mergeIsWeightedByCounts() {
        ImatrixEntry a = new ImatrixEntry("w", new float[] {100f, 8f}, new long[] {100});
        ImatrixEntry b = new ImatrixEntry("w", new float[] {900f, 0f}, new long[] {300});
        ImatrixAccumulator acc = new ImatrixAccumulator(100);
        acc.load(Imatrix.raw(Map.of("w", a), List.of("a"), 1, 100));
        acc.load(Imatrix.raw(Map.of("w", b), List.of("b"), 3, 100));
        Imatrix m = acc.snapshot(null);
        assertThat(m.chunkCount()).isEqualTo(4);
        assertThat(m.datasets()).containsExactly("a", "b");
        // (100 + 900) / 400 and (8 + 0) / 400: each file counts by its number of tokens.
        assertThat(ImatrixImportance.normalize(m.entry("w").orElseThrow(), false)).containsExactly(2.5f, 0.02f);
    }

    @Test
    void mergeBroadcastsASingleCountToExpertsAndRefusesOtherMismatches() {
        ImatrixAccumulator acc = new ImatrixAccumulator(10);
        acc.load(Imatrix.raw(Map.of("w", new ImatrixEntry("w", new float[4], new long[] {5})), List.of(), 0, 10));
        acc.load(Imatrix.raw(Map.of("w", new ImatrixEntry("w", new float[4], new long[] {1, 2})), List.of(), 0, 10));
        assertThat(acc.stats("w").counts()).containsExactly(6, 7);
        assertThatThrownBy(() -> acc.load(Imatrix.raw(Map.of("w", new ImatrixEntry("w", new float[6], new long[] {1})), List.of(), 0, 10)))
                .hasMessageContaining("mismatched sums size for w");
        assertThatThrownBy(() -> acc.load(Imatrix.raw(Map.of("w", new ImatrixEntry("w", new float[4], new long[] {1})), List.of(), 0, 10)))
                .hasMessageContaining("mismatched counts size for w");
    }

    @Test
    void filterFollowsLlamaQuantize() {
        ImatrixFilter f = new ImatrixFilter(List.of("attn"), List.of("blk.1."));
        assertThat(f.accepts("blk.0.attn_q.weight")).isTrue();
        assertThat(f.accepts("blk.1.attn_q.weight")).isFalse();
        assertThat(f.accepts("blk.0.ffn_up.weight")).isFalse();
        assertThat(ImatrixFilter.ALL.accepts("anything")).isTrue();
    }

    @Test
    void countsAreRoundedLikeLround() {
        assertThat(ImatrixReader.lround(0.5f)).isEqualTo(1);
        assertThat(ImatrixReader.lround(2.5f)).isEqualTo(3);
        assertThat(ImatrixReader.lround(-0.5f)).isEqualTo(-1);
        assertThat(ImatrixReader.lround(1.4999999f)).isEqualTo(1);
        assertThat(ImatrixReader.lround(1.6777216e7f)).isEqualTo(16777216L);
    }

    @Test
    void namesSortBytewiseLikeStdSort() {
        assertThat(Imatrix.NAME_ORDER.compare("blk.1.x", "blk.10.x")).isNegative();
        assertThat(Imatrix.NAME_ORDER.compare("blk.10.x", "blk.2.x")).isNegative();
        // U+FFFF is below U+10000 in UTF-8 byte order, while String.compareTo puts the surrogate pair first.
        assertThat(Imatrix.NAME_ORDER.compare("\uFFFF", "\uD800\uDC00")).isNegative();
        assertThat("\uFFFF".compareTo("\uD800\uDC00")).isPositive();
    }

    @Test
    void writerRefusesNamesThatLlamaCppWouldTruncate() {
        String name = "blk.0." + "x".repeat(49) + ".weight"; // 62 bytes + ".in_sum2" = 70 > 63
        Imatrix im = Imatrix.raw(Map.of(name, new ImatrixEntry(name, new float[1], new long[] {1})), List.of(), 0, 1);
        assertThatThrownBy(() -> ImatrixWriter.writeGguf(tmp.resolve("n.gguf"), im))
                .hasMessageContaining("too long").hasMessageContaining("63");
        assertThat(tmp.resolve("n.gguf")).doesNotExist();
    }

    // ---------------------------------------------------------------- malformed files

    private Path bytes(String name, byte[] b) throws IOException {
        Path p = tmp.resolve(name);
        Files.write(p, b);
        return p;
    }

    private static byte[] legacy(int nEntries, Object... fields) {
        LittleEndianBuffer b = new LittleEndianBuffer().i32(nEntries);
        for (Object f : fields) {
            if (f instanceof Integer i) b.i32(i);
            else if (f instanceof Float x) b.f32(x);
            else if (f instanceof String s) b.bytes(s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        return b.toByteArray();
    }

    @Test
    void legacyFileWithoutTrailerReadsWithZeroChunkCount() throws IOException {
        Imatrix im = ImatrixReader.read(bytes("n.dat", legacy(1, 1, "w", 3, 2, 1.5f, 2.5f)));
        assertThat(im.chunkCount()).isZero();
        assertThat(im.datasets()).isEmpty();
        assertThat(im.entry("w").orElseThrow().sums()).containsExactly(1.5f, 2.5f);
        assertThat(ImatrixImportance.normalize(im.entry("w").orElseThrow(), true)).containsExactly(0.5f, 2.5f / 3f);
    }

    @Test
    void legacyNameEndsAtTheFirstNulLikeACString() throws IOException {
        Imatrix im = ImatrixReader.read(bytes("nul.dat", legacy(1, 3, "w\0z", 1, 1, 4f)));
        assertThat(im.entries().keySet()).containsExactly("w");
    }

    @Test
    void malformedLegacyFilesFailWithFileOffsetAndField() throws IOException {
        record Bad(String name, byte[] bytes, String message) {}
        List<Bad> cases = List.of(
                new Bad("empty.dat", new byte[0], "neither GGUF nor legacy"),
                new Bad("zero-entries.dat", legacy(0), "plausible entry count (0 entries"),
                new Bad("negative-name.dat", legacy(1, -5, 0, 0, 0), "name length -5"),
                new Bad("nval-zero.dat", legacy(1, 1, "w", 1, 0, 0), "entry has 0 values"),
                new Bad("truncated-values.dat", legacy(1, 1, "w", 1, 3, 1f, 2f), "3 values need 12 bytes"),
                new Bad("truncated-trailer.dat", Arrays.copyOf(legacy(1, 1, "w", 1, 1, 1f), 22), "trailer.chunk_count"),
                new Bad("dataset-too-long.dat", legacy(1, 1, "w", 1, 1, 1f, 5, 9, "ab"), "dataset name length 9"));
        for (Bad c : cases) {
            Path p = bytes(c.name, c.bytes);
            assertThatThrownBy(() -> ImatrixReader.read(p)).as(c.name).isInstanceOf(FormatException.class)
                    .hasMessageStartingWith(p.toString()).hasMessageContaining(c.message);
        }
    }

    private Path gguf(String name, GgufMetadata md, Map<GgufTensorSpec, float[]> tensors) throws IOException {
        Path p = tmp.resolve(name);
        try (GgufWriter w = GgufWriter.create(p, md, List.copyOf(tensors.keySet()))) {
            for (var t : tensors.entrySet()) {
                ByteBuffer b = ByteBuffer.allocate((int) t.getKey().byteSize()).order(ByteOrder.LITTLE_ENDIAN);
                for (float x : t.getValue()) {
                    if (t.getKey().type() == GgmlType.F32) b.putFloat(x);
                    else b.putShort((short) 0);
                }
                try (var s = w.beginTensor(t.getKey().name())) {
                    s.write(b.flip());
                }
            }
            w.commit();
        }
        return p;
    }

    private static GgufMetadata meta() {
        return new GgufMetadata().put("general.type", GgufValue.string("imatrix"))
                .put("imatrix.datasets", GgufValue.array(GgufArray.ofStrings("d")))
                .put("imatrix.chunk_count", GgufValue.u32(1)).put("imatrix.chunk_size", GgufValue.u32(8));
    }

    private static GgufTensorSpec f32(String name, long... ne) { return new GgufTensorSpec(name, GgmlType.F32, ne); }

    @Test
    void malformedGgufImatricesFailClearly() throws IOException {
        var linked = new java.util.LinkedHashMap<GgufTensorSpec, float[]>();
        linked.put(f32("w.in_sum2", 4), new float[4]);
        Path missingCounts = gguf("missing-counts.gguf", meta(), linked);
        assertThatThrownBy(() -> ImatrixReader.read(missingCounts)).isInstanceOf(FormatException.class)
                .hasMessageContaining("mismatched sums and counts for 'w'").hasMessageContaining("w.counts");

        var f16 = new java.util.LinkedHashMap<GgufTensorSpec, float[]>();
        f16.put(new GgufTensorSpec("w.in_sum2", GgmlType.F16, new long[] {4}), new float[4]);
        f16.put(f32("w.counts", 1), new float[] {1});
        Path wrongType = gguf("f16.gguf", meta(), f16);
        assertThatThrownBy(() -> ImatrixReader.read(wrongType)).hasMessageContaining("must be F32, found F16");

        var odd = new java.util.LinkedHashMap<GgufTensorSpec, float[]>();
        odd.put(f32("w.in_sum2", 5), new float[5]);
        odd.put(f32("w.counts", 1, 2), new float[2]);
        Path notMultiple = gguf("odd.gguf", meta(), odd);
        assertThatThrownBy(() -> ImatrixReader.read(notMultiple)).hasMessageContaining("not a multiple of the 2 counts");

        var model = new java.util.LinkedHashMap<GgufTensorSpec, float[]>();
        model.put(f32("token_embd.weight", 4, 2), new float[8]);
        Path notImatrix = gguf("model.gguf", new GgufMetadata().put("general.architecture", GgufValue.string("gemma3")), model);
        assertThatThrownBy(() -> ImatrixReader.read(notImatrix)).hasMessageContaining("no imatrix entries");

        var ok = new java.util.LinkedHashMap<GgufTensorSpec, float[]>();
        ok.put(f32("w.in_sum2", 2), new float[] {1, 2});
        ok.put(f32("w.counts", 1), new float[] {2});
        Path chunkNotU32 = gguf("i32.gguf", meta().put("imatrix.chunk_count", GgufValue.i32(1)), ok);
        assertThatThrownBy(() -> ImatrixReader.read(chunkNotU32)).hasMessageContaining("imatrix.chunk_count must be UINT32");

        GgufMetadata noMeta = new GgufMetadata().put("general.type", GgufValue.string("imatrix"));
        Path withoutMetadata = gguf("nometa.gguf", noMeta, ok);
        Imatrix im = ImatrixReader.read(withoutMetadata);
        assertThat(im.hasMetadata()).isFalse();
        assertThatThrownBy(() -> ImatrixImportance.of(im, ImatrixFilter.ALL, withoutMetadata))
                .hasMessageContaining("missing imatrix metadata");

        byte[] good = Files.readAllBytes(gguf("good.gguf", meta(), ok));
        Path truncated = bytes("truncated.gguf", Arrays.copyOf(good, good.length - 40));
        assertThatThrownBy(() -> ImatrixReader.read(truncated)).isInstanceOf(FormatException.class)
                .hasMessageStartingWith(truncated.toString()).hasMessageContaining("past the end of the file");
    }

    @Test
    void otherTensorsOfNewerWritersAreIgnored() throws IOException {
        var t = new java.util.LinkedHashMap<GgufTensorSpec, float[]>();
        t.put(f32("w.in_sum2", 2), new float[] {3, 4});
        t.put(f32("w.counts", 1), new float[] {2});
        t.put(f32("w.in_sum", 2), new float[] {1, 1});
        Imatrix im = ImatrixReader.read(gguf("insum.gguf", meta(), t));
        assertThat(im.entries()).hasSize(1);
        assertThat(im.entry("w").orElseThrow().sums()).containsExactly(3f, 4f);
    }
}
