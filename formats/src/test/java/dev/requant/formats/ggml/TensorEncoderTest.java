package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufWriter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TensorEncoderTest {
    @TempDir Path tmp;

    static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (r.nextGaussian() * 0.02);
        return x;
    }

    /** The plain loop TensorEncoder must agree with: every row through the reference codec, in order. */
    static byte[] serial(float[] x, int n, GgmlType t, float[] w) {
        BlockCodec c = BlockCodec.reference(t);
        int rows = x.length / n;
        int rb = (int) c.rowBytes(n);
        byte[] out = new byte[rb * rows];
        int matrices = w == null ? 1 : w.length / n;
        for (int r = 0; r < rows; r++) {
            float[] wr = w == null ? null : java.util.Arrays.copyOfRange(w, r / (rows / matrices) * n, (r / (rows / matrices) + 1) * n);
            c.encodeRow(x, r * n, n, wr, MemorySegment.ofArray(out), (long) r * rb);
        }
        return out;
    }

    static byte[] encode(TensorEncoder e, RowSource src, GgmlType t, float[] w) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        e.encode(src, t, w, chunk -> {
            byte[] b = new byte[chunk.remaining()];
            chunk.get(b);
            out.write(b);
        }, TensorEncoder.Progress.NONE);
        return out.toByteArray();
    }

    @Test
    void outputDoesNotDependOnTheThreadCount() throws IOException {
        int n = 512, rows = 301; // with 4 KiB chunks: many chunks, a ragged last one
        float[] x = random(n * rows, 1);
        float[] w = random(n, 2);
        for (int i = 0; i < n; i++) w[i] = w[i] * w[i] * 1e4f;
        for (GgmlType t : List.of(GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q2_K, GgmlType.NVFP4, GgmlType.F16)) {
            for (float[] imp : new float[][] {null, w}) {
                byte[] want = serial(x, n, t, imp);
                for (int threads : new int[] {1, 2, 3}) {
                    try (TensorEncoder e = new TensorEncoder(threads, 4096)) {
                        assertThat(encode(e, RowSource.ofFloats(x, n), t, imp)).as("%s, %d threads", t, threads).isEqualTo(want);
                    }
                }
            }
        }
    }

    @Test
    void stackedImportanceGoesWithItsMatrix() throws IOException {
        int n = 256, rows = 12; // 3 experts of 4 rows
        float[] x = random(n * rows, 3);
        float[] w = new float[3 * n];
        SplittableRandom r = new SplittableRandom(4);
        for (int i = 0; i < w.length; i++) w[i] = (float) Math.exp(3 * r.nextGaussian());
        try (TensorEncoder e = new TensorEncoder(2)) {
            byte[] got = encode(e, RowSource.ofFloats(x, n), GgmlType.Q4_K, w);
            assertThat(got).isEqualTo(serial(x, n, GgmlType.Q4_K, w));
            assertThat(got).isNotEqualTo(serial(x, n, GgmlType.Q4_K, java.util.Arrays.copyOf(w, n)));
            assertThatThrownBy(() -> encode(e, RowSource.ofFloats(x, n), GgmlType.Q4_K, new float[5 * n]))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("matrices");
        }
        // Q2_K encodes a chunk's rows as one run of blocks: chunks of 5 rows start and end inside a matrix
        for (int chunkBytes : new int[] {1 << 20, 5 * 84}) {
            try (TensorEncoder e = new TensorEncoder(2, chunkBytes)) {
                byte[] got = encode(e, RowSource.ofFloats(x, n), GgmlType.Q2_K, w);
                assertThat(got).as("Q2_K, chunks of %d bytes", chunkBytes).isEqualTo(serial(x, n, GgmlType.Q2_K, w));
                assertThat(got).isNotEqualTo(serial(x, n, GgmlType.Q2_K, java.util.Arrays.copyOf(w, n)));
            }
        }
    }

    @Test
    void encodesBf16AndQuantizedSourcesIntoAGgufThatReadsBack() throws IOException {
        int n = 256, rows = 300;
        float[] x = random(n * rows, 5);
        byte[] bf16 = new byte[2 * x.length];
        BlockCodec.of(GgmlType.BF16).encodeRow(x, 0, x.length, null, MemorySegment.ofArray(bf16), 0);
        byte[] q8 = serial(x, n, GgmlType.Q8_0, null);
        Path file = tmp.resolve("out.gguf");
        List<GgufTensorSpec> specs = List.of(new GgufTensorSpec("a.weight", GgmlType.Q4_0, new long[] {n, rows}),
                new GgufTensorSpec("b.weight", GgmlType.Q6_K, new long[] {n, rows}));
        List<Long> progress = new ArrayList<>();
        try (TensorEncoder e = new TensorEncoder(2);
                GgufWriter w = GgufWriter.create(file, new GgufMetadata().put("general.architecture", dev.requant.formats.gguf.GgufValue.string("test")), specs)) {
            e.encode(RowSource.ofBf16(MemorySegment.ofArray(bf16), n, rows), GgmlType.Q4_0, null, w.beginTensor("a.weight"), progress::add);
            e.encode(RowSource.of(MemorySegment.ofArray(q8), GgmlType.Q8_0, n, rows), GgmlType.Q6_K, null, w.beginTensor("b.weight"));
            w.commit();
        }
        assertThat(progress).isNotEmpty().isSorted().endsWith((long) rows);
        try (GgufFile f = GgufFile.open(file)) {
            GgufTensorInfo a = f.tensor("a.weight").orElseThrow();
            float[] widened = new float[x.length];
            BlockCodec.of(GgmlType.BF16).decode(MemorySegment.ofArray(bf16), 0, widened, 0, x.length);
            assertThat(f.tensorData(a).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(serial(widened, n, GgmlType.Q4_0, null));
            float[] dq = new float[x.length];
            BlockCodec.of(GgmlType.Q8_0).decode(MemorySegment.ofArray(q8), 0, dq, 0, x.length);
            GgufTensorInfo b = f.tensor("b.weight").orElseThrow();
            assertThat(f.tensorData(b).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(serial(dq, n, GgmlType.Q6_K, null));
            // and every tensor of the file decodes
            for (GgufTensorInfo t : f.tensors()) {
                float[] y = new float[(int) t.spec().elementCount()];
                BlockCodec.of(t.type()).decode(f.tensorData(t), 0, y, 0, y.length);
                for (float v : y) assertThat(Float.isFinite(v)).isTrue();
            }
        }
    }

    @Test
    void refusesASinkOfTheWrongShape() throws IOException {
        Path file = tmp.resolve("bad.gguf");
        List<GgufTensorSpec> specs = List.of(new GgufTensorSpec("a.weight", GgmlType.Q8_0, new long[] {64, 3}));
        try (TensorEncoder e = new TensorEncoder(1);
                GgufWriter w = GgufWriter.create(file, new GgufMetadata(), specs)) {
            assertThatThrownBy(() -> e.encode(RowSource.ofFloats(new float[64 * 4], 64), GgmlType.Q8_0, null, w.beginTensor("a.weight")))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("a.weight");
        }
        assertThat(Files.exists(file)).isFalse();
    }

    /** Rows of 32 that fail to read past row {@code failAfter}. */
    static RowSource failingAfter(long rows, long failAfter) {
        return new RowSource() {
            @Override public int rowLength() { return 32; }

            @Override public long rows() { return rows; }

            @Override
            public void read(long first, int count, float[] dst) {
                if (first > failAfter) throw new IllegalStateException("disk on fire at row " + first);
            }
        };
    }

    @Test
    void aFailingSourceFailsTheEncodeWithoutHanging() {
        RowSource broken = failingAfter(100_000, 40_000);
        try (TensorEncoder e = new TensorEncoder(2)) {
            assertThatThrownBy(() -> encode(e, broken, GgmlType.Q8_0, null)).hasMessageContaining("disk on fire");
        }
    }

    /**
     * encodeAll over tensors of many sizes (one row to many chunks, none), the caller's own tensors between them, and
     * the same codecs as above: every tensor's bytes are the plain loop's, each output is opened, written and closed
     * before the next is opened, and progress counts each tensor's rows up to all of them, on 1 to 3 threads.
     */
    @Test
    void encodeAllWritesEachTensorWholeAndInOrder() throws IOException {
        int n = 256;
        int[] rowCounts = {1, 37, 9, 0, 300, 5, 120, 2, 64};
        List<GgmlType> types = List.of(GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.F16);
        List<float[]> data = new ArrayList<>();
        for (int i = 0; i < rowCounts.length; i++) data.add(random(n * rowCounts[i], 10 + i));
        for (int threads : new int[] {1, 2, 3}) {
            List<String> events = new ArrayList<>();
            List<ByteArrayOutputStream> got = new ArrayList<>();
            List<TensorEncoder.Job> jobs = new ArrayList<>();
            for (int i = 0; i < rowCounts.length; i++) {
                int k = i;
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                got.add(out);
                if (i % 3 == 2) { // the caller's own bytes, written in turn
                    jobs.add(new TensorEncoder.Written(() -> {
                        events.add("written " + k);
                        out.write(k);
                    }));
                    continue;
                }
                jobs.add(new TensorEncoder.Encoded(RowSource.ofFloats(data.get(i), n), BlockCodec.of(types.get(i % types.size())), null,
                        new TensorEncoder.Output() {
                            @Override
                            public TensorEncoder.ChunkSink open() {
                                events.add("open " + k);
                                return chunk -> {
                                    assertThat(events.getLast()).isIn("open " + k, "write " + k);
                                    events.add("write " + k);
                                    byte[] b = new byte[chunk.remaining()];
                                    chunk.get(b);
                                    out.write(b);
                                };
                            }

                            @Override
                            public void close() { events.add("close " + k); }
                        }, rows -> {
                            assertThat(rows).isLessThanOrEqualTo(rowCounts[k]);
                            if (rows == rowCounts[k]) events.add("done " + k);
                        }));
            }
            try (TensorEncoder e = new TensorEncoder(threads, 4096)) {
                e.encodeAll(jobs.iterator());
            }
            List<String> order = events.stream().filter(ev -> !ev.startsWith("write")).toList();
            List<String> want = new ArrayList<>();
            for (int i = 0; i < rowCounts.length; i++) {
                if (i % 3 == 2) {
                    want.add("written " + i);
                } else {
                    want.add("open " + i);
                    if (rowCounts[i] > 0) want.add("done " + i);
                    want.add("close " + i);
                }
            }
            assertThat(order).as("%d threads", threads).isEqualTo(want);
            for (int i = 0; i < rowCounts.length; i++) {
                byte[] expected = i % 3 == 2 ? new byte[] {(byte) i} : serial(data.get(i), n, types.get(i % types.size()), null);
                assertThat(got.get(i).toByteArray()).as("tensor %d, %d threads", i, threads).isEqualTo(expected);
            }
        }
    }

    /** A tensor whose rows fail: encodeAll fails with its error, and neither closes it nor opens any tensor after it. */
    @Test
    void encodeAllStopsAtAFailingTensor() {
        List<String> events = new ArrayList<>();
        RowSource broken = failingAfter(50_000, 20_000);
        List<TensorEncoder.Job> jobs = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            int k = i;
            RowSource rows = i == 1 ? broken : RowSource.ofFloats(random(32 * 4000, i), 32);
            jobs.add(new TensorEncoder.Encoded(rows, BlockCodec.of(GgmlType.Q8_0), null, new TensorEncoder.Output() {
                @Override
                public TensorEncoder.ChunkSink open() {
                    events.add("open " + k);
                    return chunk -> { };
                }

                @Override
                public void close() { events.add("close " + k); }
            }, TensorEncoder.Progress.NONE));
        }
        try (TensorEncoder e = new TensorEncoder(2, 4096)) {
            assertThatThrownBy(() -> e.encodeAll(jobs.iterator())).hasMessageContaining("disk on fire");
        }
        assertThat(events).containsExactly("open 0", "close 0", "open 1");
    }

    @Test
    void rowLengthMustBeWholeBlocks() {
        try (TensorEncoder e = new TensorEncoder(1)) {
            assertThatThrownBy(() -> encode(e, RowSource.ofFloats(new float[48], 48), GgmlType.Q4_0, null))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("block size");
        }
    }
}
