package dev.requant.converter.quantize;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.RowSource;
import dev.requant.formats.ggml.TensorEncoder;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.testmodels.LlamaCppQuantizer;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The IQ codecs against the pinned libllama (node-llama-cpp's llama_model_quantize and ggml_quantize_chunk, through
 * FFM): a synthetic llama model quantized {@code --pure} to each IQ type with an imatrix, every tensor re-encoded by
 * {@link BlockCodec#of} from the same BF16 rows and importance must give llama.cpp's bytes; and rows built to hit
 * the edge cases (zeros, sparse rows, ties, subnormals, tiny values, zero importance) through ggml_quantize_chunk
 * directly. Where the type allows it, the imatrix has no token_embd entry, so that tensor goes through the encoder's
 * no-importance path (llama.cpp requires importance for the other tensors of these types).
 */
class IqCodecsLlamaCppTest {
    @TempDir static Path tmp;
    static LlamaCppQuantizer llama;
    static SyntheticLlama shape = SyntheticLlama.wide8();
    static Path model;

    @BeforeAll
    static void model() throws IOException {
        llama = LlamaCppQuantizer.forTests();
        model = shape.write(tmp);
    }

    /** Mean squares for every matrix, token_embd included when asked (IQ2_XXS, IQ2_XS and IQ1_S need one there). */
    static Map<String, float[]> imatrix(boolean withTokenEmbedding) {
        Map<String, float[]> m = new LinkedHashMap<>(shape.importance(11).values());
        if (withTokenEmbedding) {
            SplittableRandom r = new SplittableRandom(12);
            float[] v = new float[shape.hidden()];
            for (int i = 0; i < v.length; i++) v[i] = r.nextInt(8) == 0 ? 0f : (float) Math.exp(2 * r.nextGaussian()) * 0.01f;
            m.put("token_embd.weight", v);
        }
        return m;
    }

    /** The llama_ftype whose --pure output is all {@code type}: note that MOSTLY_IQ2_S (28) is IQ2_XS, MOSTLY_IQ2_M (29) IQ2_S. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"IQ3_XXS, 23", "IQ3_S, 26", "IQ2_XXS, 19", "IQ2_XS, 20", "IQ2_S, 29", "IQ1_S, 24", "IQ1_M, 31"})
    void everyTensorIsLlamaModelQuantizes(GgmlType type, int ftype) throws IOException {
        BlockCodec codec = BlockCodec.of(type);
        Map<String, float[]> imatrix = imatrix(codec.requiresImportance());
        Path out = tmp.resolve("wide8." + type + ".gguf");
        var params = new LlamaCppQuantizer.Params(ftype, 2, true, true, LlamaCppQuantizer.TYPE_UNSET, LlamaCppQuantizer.TYPE_UNSET,
                false, List.of(), imatrix, List.of(), false);
        assertThat(llama.quantize(model, out, params)).as("llama_model_quantize status").isZero();
        List<String> mismatches = new ArrayList<>();
        int checked = 0, withoutImportance = 0;
        try (GgufFile in = GgufFile.open(model); GgufFile theirs = GgufFile.open(out); TensorEncoder encoder = new TensorEncoder(2)) {
            for (GgufTensorInfo t : theirs.tensors()) {
                if (t.type() != type) continue;
                GgufTensorInfo src = in.tensor(t.name()).orElseThrow();
                float[] importance = imatrix.get(t.name());
                if (importance == null) withoutImportance++;
                MemorySegment want = theirs.tensorData(t);
                ByteBuffer ours = ByteBuffer.allocate((int) want.byteSize());
                encoder.encode(RowSource.ofBf16(in.tensorData(src), (int) t.ne()[0], t.ne()[1]), codec, importance, ours::put,
                        TensorEncoder.Progress.NONE);
                if (ours.position() != want.byteSize() || MemorySegment.ofArray(ours.array()).mismatch(want) != -1) mismatches.add(t.name());
                checked++;
            }
        }
        assertThat(mismatches).as(type.name()).isEmpty();
        assertThat(checked).isEqualTo(1 + shape.layers() * 7); // --pure: every matrix, token_embd included
        assertThat(withoutImportance).isEqualTo(codec.requiresImportance() ? 0 : 1);
    }

    /** ggml_quantize_chunk(type, src, dst, start, nrows, n_per_row, imatrix) of the pinned libggml-base. */
    static MethodHandle quantizeChunk() {
        return Linker.nativeLinker().downcallHandle(SymbolLookup.loaderLookup().find("ggml_quantize_chunk").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                        ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
    }

    /**
     * Rows of one kind (finite only: ggml aborts on NaN, infinities and squares that overflow, where these encoders
     * have nothing to compare): 0 Gaussian, 1 BF16-rounded Gaussian (ties), 2 small integers (many ties), 3 zeros,
     * 4 sparse (about one in 29 nonzero: whole sub-blocks of zeros), 5 subnormals, 6 tiny normals, 7 one huge outlier
     * per block, 8 a single sign repeated.
     */
    static void row(int kind, SplittableRandom r, float[] x, int off, int n) {
        for (int i = 0; i < n; i++) {
            x[off + i] = switch (kind) {
                case 0 -> (float) r.nextGaussian();
                case 1 -> Float.intBitsToFloat(Float.floatToRawIntBits((float) (r.nextGaussian() * 0.02)) & 0xFFFF0000);
                case 2 -> r.nextInt(9) - 4;
                case 3 -> 0f;
                case 4 -> r.nextInt(29) == 0 ? (float) r.nextGaussian() : 0f;
                case 5 -> Float.intBitsToFloat(r.nextInt(0x800000) | (r.nextBoolean() ? 0x80000000 : 0));
                case 6 -> (float) r.nextGaussian() * 0x1p-100f;
                case 7 -> i % 256 == 17 ? 1e6f : (float) r.nextGaussian();
                default -> Math.abs((float) r.nextGaussian());
            };
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"IQ3_XXS", "IQ3_S", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M"})
    void edgeCaseRowsEncodeAsGgmlQuantizeChunk(GgmlType type) throws Throwable {
        MethodHandle chunk = quantizeChunk();
        int n = 512, rows = 6, kinds = 9;
        SplittableRandom r = new SplittableRandom(31);
        float[] x = new float[n * rows];
        float[] w = new float[n];
        for (int i = 0; i < n; i++) w[i] = r.nextInt(8) == 0 ? 0f : (float) Math.exp(r.nextGaussian());
        List<String> mismatches = new ArrayList<>();
        for (BlockCodec codec : List.of(BlockCodec.reference(type), BlockCodec.of(type))) {
            for (int kind = 0; kind < kinds; kind++) {
                for (int i = 0; i < rows; i++) row(kind, r, x, i * n, n);
                for (float[] importance : codec.requiresImportance() ? List.of(w) : java.util.Arrays.asList(null, w)) {
                    byte[] ours = new byte[(int) codec.rowBytes(n) * rows];
                    for (int i = 0; i < rows; i++) codec.encodeRow(x, i * n, n, importance, MemorySegment.ofArray(ours), i * codec.rowBytes(n));
                    byte[] theirs;
                    try (Arena a = Arena.ofConfined()) {
                        MemorySegment dst = a.allocate(ours.length);
                        MemorySegment qw = importance == null ? MemorySegment.NULL : a.allocateFrom(ValueLayout.JAVA_FLOAT, importance);
                        long size = (long) chunk.invokeExact(type.id(), a.allocateFrom(ValueLayout.JAVA_FLOAT, x), dst, 0L, (long) rows, (long) n, qw);
                        assertThat(size).isEqualTo(ours.length);
                        theirs = dst.toArray(ValueLayout.JAVA_BYTE);
                    }
                    if (!java.util.Arrays.equals(ours, theirs)) {
                        mismatches.add(codec.getClass().getSimpleName() + " kind " + kind + (importance == null ? "" : " with importance"));
                    }
                }
            }
        }
        assertThat(mismatches).isEmpty();
    }
}
