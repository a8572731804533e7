package dev.requant.converter.quantize;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.testmodels.LlamaCppQuantizer;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The codecs against llama_model_quantize itself (node-llama-cpp's libllama, through FFM) with --pure and the ftype of
 * each codec type, with and without an imatrix: every tensor of llama.cpp's output must be the codec's encoding of
 * the source rows (quantized tensors), or the source bytes (the 1-D norms it keeps). wide8 (BF16, tied embeddings,
 * rows of 256 and 512) gives every 2-D tensor the target type; moe8 (F32, 8 experts of FFN width 64) adds 3-D expert
 * tensors with one imatrix slice per expert, and the fallbacks for rows of 64 (Q4_0 for Q2_K/Q3_K/TQ*, IQ4_NL for
 * IQ4_XS). Q1_0 has no fallback (llama.cpp refuses rows of 64), so it runs on wide8 only.
 */
class LlamaCppPureCodecParityTest {
    @TempDir static Path tmp;
    static LlamaCppQuantizer llama;
    static Path wide, moe;

    @BeforeAll
    static void models() throws IOException {
        llama = LlamaCppQuantizer.forTests();
        wide = SyntheticLlama.wide8().write(tmp);
        moe = SyntheticLlama.moe8().write(tmp);
    }

    /** The llama_ftype whose --pure output is all {@code type}. */
    static int ftype(GgmlType type) {
        return switch (type) {
            case Q2_K -> 10;
            case Q3_K -> 12; // Q3_K_M
            case IQ4_NL -> 25;
            case IQ4_XS -> 30;
            case TQ1_0 -> 36;
            case TQ2_0 -> 37;
            case Q1_0 -> 40;
            case Q2_0 -> 41;
            default -> throw new IllegalArgumentException(type.toString());
        };
    }

    static Stream<Arguments> cases() {
        List<Arguments> a = new ArrayList<>();
        for (GgmlType t : List.of(GgmlType.Q1_0, GgmlType.Q2_0, GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.Q2_K, GgmlType.Q3_K,
                GgmlType.IQ4_NL, GgmlType.IQ4_XS)) {
            for (boolean imatrix : new boolean[] {false, true}) {
                a.add(Arguments.of("wide8", t, imatrix));
                if (t != GgmlType.Q1_0) a.add(Arguments.of("moe8", t, imatrix));
            }
        }
        return a.stream();
    }

    @ParameterizedTest(name = "{0} {1} imatrix={2}")
    @MethodSource("cases")
    void everyTensorIsTheCodecsEncoding(String model, GgmlType type, boolean withImatrix) throws IOException {
        SyntheticLlama synthetic = model.equals("wide8") ? SyntheticLlama.wide8() : SyntheticLlama.moe8();
        Path in = model.equals("wide8") ? wide : moe;
        Map<String, float[]> imatrix = withImatrix ? synthetic.importance(23).values() : Map.of();
        Path out = tmp.resolve(model + "." + type + (withImatrix ? ".imat" : "") + ".gguf");
        var params = new LlamaCppQuantizer.Params(ftype(type), 2, true, true, LlamaCppQuantizer.TYPE_UNSET,
                LlamaCppQuantizer.TYPE_UNSET, false, List.of(), imatrix, List.of(), false);
        assertThat(llama.quantize(in, out, params)).as("llama_model_quantize status").isZero();
        List<String> mismatches = new ArrayList<>();
        int ofType = 0, weighted = 0;
        try (GgufFile src = GgufFile.open(in); GgufFile q = GgufFile.open(out)) {
            for (GgufTensorInfo t : q.tensors()) {
                GgufTensorInfo s = src.tensor(t.name()).orElseThrow();
                byte[] want = q.tensorData(t).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                float[] w = imatrix.get(t.name());
                if (t.type() == type) ofType++;
                if (w != null && t.type().quantized()) weighted++;
                byte[] got = t.type() == s.type() ? src.tensorData(s).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE) : encode(src, s, t.type(), w);
                if (!Arrays.equals(got, want)) mismatches.add(t.name() + " " + t.type());
            }
        }
        assertThat(mismatches).isEmpty();
        int matrices = (int) synthetic.tensors().stream().filter(t -> t.nDims() >= 2).count();
        // moe8: the three expert tensors of each layer have rows of 64 (ffn_down) or are routers (F32 kept)
        assertThat(ofType).isGreaterThanOrEqualTo(model.equals("wide8") ? matrices : matrices / 2);
        if (withImatrix) assertThat(weighted).isPositive();
    }

    /** Encodes source tensor {@code s} row by row, each expert's rows with its own imatrix slice (as llama.cpp does). */
    static byte[] encode(GgufFile src, GgufTensorInfo s, GgmlType type, float[] importance) {
        int n = (int) s.ne()[0];
        long rowsPerExpert = s.ne()[1];
        long rows = s.byteSize() / s.type().rowBytes(n);
        BlockCodec decoder = BlockCodec.of(s.type()), encoder = BlockCodec.of(type);
        int rowBytes = (int) type.rowBytes(n);
        byte[] out = new byte[(int) (rows * rowBytes)];
        MemorySegment data = src.tensorData(s), dst = MemorySegment.ofArray(out);
        float[] x = new float[n];
        for (long r = 0; r < rows; r++) {
            decoder.decode(data, r * s.type().rowBytes(n), x, 0, n);
            float[] w = null;
            if (importance != null) {
                int expert = (int) (r / rowsPerExpert);
                w = Arrays.copyOfRange(importance, expert * n, (expert + 1) * n);
            }
            encoder.encodeRow(x, 0, n, w, dst, r * rowBytes);
        }
        return out;
    }
}
