package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every codec against ggml's own code on inputs built to hit the edge cases (ties, zeros, subnormals, huge values,
 * Inf, NaN, zero importance): resources/ggml-crosscheck/expected.txt holds the SHA-256 of what libggml-base
 * (Release, no -march, as llama.cpp builds it) produced, per row kind; bench/ggml-crosscheck/crosscheck.sh
 * regenerates it. Both the scalar reference and the codec {@link BlockCodec#of} hands out must match.
 */
class GgmlCrosscheckTest {
    static final int N = 768, ROWS = 48;
    static final long SEED = 20260821L;

    static Map<String, String> expected() throws IOException {
        Map<String, String> m = new LinkedHashMap<>();
        try (InputStream in = GgmlCrosscheckTest.class.getResourceAsStream("/ggml-crosscheck/expected.txt")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.isBlank() || line.startsWith("#")) continue;
                String[] f = line.split(" ");
                m.put(f[0] + " " + f[1] + " " + f[2] + " " + f[3], f[4]);
            }
        }
        return m;
    }

    /**
     * fp16 fields (byte offsets in a block) whose NaNs are compared without their sign, as expected.py does: a NaN
     * scale only comes from NaN inputs (the importance path spreads one NaN over the row through sigma^2), and its
     * sign depends on the operand order a compiler picks for commutative float operations, gcc's or HotSpot's.
     */
    static final Map<String, int[]> FP16_FIELDS = Map.of("f16", new int[] {0}, "q4_0", new int[] {0},
            "q4_1", new int[] {0, 2}, "q5_0", new int[] {0}, "q5_1", new int[] {0, 2}, "q8_0", new int[] {0},
            "q4_K", new int[] {0, 2}, "q5_K", new int[] {0, 2}, "q6_K", new int[] {208});

    static void canonicalNaNScales(String name, int blockBytes, byte[] b) {
        for (int blk = 0; blk < b.length; blk += blockBytes) {
            for (int off : FP16_FIELDS.getOrDefault(name, new int[0])) {
                int v = (b[blk + off] & 0xFF) | (b[blk + off + 1] & 0xFF) << 8;
                if ((v & 0x7C00) == 0x7C00 && (v & 0x3FF) != 0) {
                    b[blk + off] = 0;
                    b[blk + off + 1] = 0x7E;
                }
            }
        }
    }

    static GgmlType type(String name) { return GgmlType.byName(name).orElseThrow(); }

    @ParameterizedTest
    @ValueSource(strings = {"f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_K", "q5_K", "q6_K", "mxfp4", "nvfp4"})
    void encodeMatchesGgml(String name) throws Exception {
        Map<String, String> exp = expected();
        CrosscheckCorpus corpus = new CrosscheckCorpus(SEED);
        float[] x = new float[N * ROWS];
        for (int r = 0; r < ROWS; r++) corpus.row(r % CrosscheckCorpus.KINDS, x, r * N, N);
        float[] w = new float[N];
        corpus.importance(w);
        List<String> mismatches = new ArrayList<>();
        for (BlockCodec codec : List.of(BlockCodec.reference(type(name)), BlockCodec.of(type(name)))) {
            for (boolean imat : new boolean[] {false, true}) {
                int rowBytes = (int) codec.rowBytes(N);
                byte[] out = new byte[rowBytes * ROWS];
                MemorySegment seg = MemorySegment.ofArray(out);
                for (int r = 0; r < ROWS; r++) codec.encodeRow(x, r * N, N, imat ? w : null, seg, (long) r * rowBytes);
                canonicalNaNScales(name, type(name).typeSize(), out);
                for (int kind = 0; kind < CrosscheckCorpus.KINDS; kind++) {
                    MessageDigest md = MessageDigest.getInstance("SHA-256");
                    for (int r = kind; r < ROWS; r += CrosscheckCorpus.KINDS) md.update(out, r * rowBytes, rowBytes);
                    String key = "encode " + name + " " + (imat ? "imatrix" : "ref") + " " + kind;
                    String got = HexFormat.of().formatHex(md.digest());
                    if (!got.equals(exp.get(key))) mismatches.add(codec.getClass().getSimpleName() + ": " + key);
                }
            }
        }
        assertThat(mismatches).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_K", "q5_K", "q6_K", "mxfp4", "nvfp4"})
    void decodeOfArbitraryBytesMatchesGgml(String name) throws Exception {
        GgmlType t = type(name);
        CrosscheckCorpus corpus = new CrosscheckCorpus(SEED);
        int rowBytes = (int) t.rowBytes(N);
        byte[] in = new byte[rowBytes * ROWS];
        for (int i = 0; i < in.length; i++) in[i] = (byte) (corpus.next() >>> 56);
        String want = expected().get("decode " + name + " - -");
        for (BlockCodec codec : List.of(BlockCodec.reference(t), BlockCodec.of(t))) {
            float[] y = new float[N * ROWS];
            for (int r = 0; r < ROWS; r++) codec.decode(MemorySegment.ofArray(in), (long) r * rowBytes, y, r * N, N);
            ByteBuffer b = ByteBuffer.allocate(4 * y.length).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : y) b.putInt(Float.isNaN(v) ? 0x7FC00000 : Float.floatToRawIntBits(v)); // NaN payloads are not compared
            String got = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b.array()));
            assertThat(got).as(codec.getClass().getSimpleName()).isEqualTo(want);
        }
    }
}
