package dev.requant.testmodels;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.RowSource;
import dev.requant.formats.ggml.TensorEncoder;
import dev.requant.formats.gguf.GgufKeys.Attention;
import dev.requant.formats.gguf.GgufKeys.General;
import dev.requant.formats.gguf.GgufKeys.LLM;
import dev.requant.formats.gguf.GgufKeys.Rope;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufWriter;
import dev.requant.formats.model.GemmaArch;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A deterministic BF16 GGUF with Gemma 3 tensor names and shapes (no tokenizer: it is for encoders and benchmarks,
 * not for running). Weights look like trained ones where it matters to quantizers: Gaussian-ish bulk with a per-row
 * scale spread (log-normal), 0.5% outliers at 3-8x, zero-mean; norms are F32 near 0 (Gemma stores weight-1).
 * Every row is generated from (seed, tensor name, row index) alone, so the file is identical whatever the thread
 * count, and it is streamed: never more than a few MiB in memory.
 */
public final class SyntheticGguf {
    private SyntheticGguf() {}

    /** The model dimensions. */
    public record Shape(int hidden, int ffn, int layers, int vocab, int heads, int kvHeads, int headDim) {
        /** Gemma 3 1B: 26 layers, hidden 1152, FFN 6912, 4 heads of 256, 1 KV head, vocab 262144: 1.0 B parameters. */
        public static Shape gemma3_1b() { return new Shape(1152, 6912, 26, 262144, 4, 1, 256); }

        /** Every Gemma has this vocabulary; the LM head is about a sixth of a 4B model's arithmetic. */
        public static final int GEMMA_VOCAB = 262_144;

        /**
         * Gemma 3 4B (gemma-3-4b-it's text model): 34 layers, hidden 2560, FFN 10240, 8 heads / 4 KV heads of 256,
         * the real vocabulary: 3.9 B parameters (3.25 B in the layers, 0.67 B in the tied embedding).
         */
        public static Shape gemma3_4b() { return new Shape(2560, 10240, 34, GEMMA_VOCAB, 8, 4, 256); }

        /** Gemma 3 12B: 48 layers, hidden 3840, FFN 15360, 16 heads / 8 KV heads of 256: 11.8 B parameters. */
        public static Shape gemma3_12b() { return new Shape(3840, 15360, 48, GEMMA_VOCAB, 16, 8, 256); }

        /** Gemma 3 27B: 62 layers, hidden 5376, FFN 21504, 32 heads / 16 KV heads of 128: 27.0 B parameters. */
        public static Shape gemma3_27b() { return new Shape(5376, 21504, 62, GEMMA_VOCAB, 32, 16, 128); }

        /**
         * 127 M parameters for benchmarks of the slow encoders (IQ types): 6 layers, hidden 1024, FFN 4096, 8 heads /
         * 4 KV heads of 128, vocab 32768; every row a multiple of 256, so no tensor falls back to another type.
         */
        public static Shape bench127m() { return new Shape(1024, 4096, 6, 32768, 8, 4, 128); }

        /** A shape by its command-line name: tiny, bench-127m, gemma3-1b, gemma3-4b, gemma3-12b, gemma3-27b. */
        public static Shape byName(String name) {
            return switch (name) {
                case "tiny" -> tiny();
                case "bench-127m" -> bench127m();
                case "gemma3-1b" -> gemma3_1b();
                case "gemma3-4b" -> gemma3_4b();
                case "gemma3-12b" -> gemma3_12b();
                case "gemma3-27b" -> gemma3_27b();
                default -> throw new IllegalArgumentException("unknown shape " + name + " (tiny, bench-127m, gemma3-1b, gemma3-4b, gemma3-12b, gemma3-27b)");
            };
        }

        /** Parameters of the file's tensors. */
        public long parameters() {
            return tensors(this).stream().mapToLong(GgufTensorSpec::elementCount).sum();
        }

        /** A few MiB, for tests. */
        public static Shape tiny() { return new Shape(256, 512, 2, 1024, 4, 2, 64); }
    }

    /** The tensors of the file in order: ne as GGUF writes it (row length first). */
    public static List<GgufTensorSpec> tensors(Shape s) {
        List<GgufTensorSpec> t = new ArrayList<>();
        t.add(new GgufTensorSpec("token_embd.weight", GgmlType.BF16, new long[] {s.hidden, s.vocab}));
        for (int l = 0; l < s.layers; l++) {
            String b = "blk." + l + ".";
            int q = s.heads * s.headDim, kv = s.kvHeads * s.headDim;
            t.add(new GgufTensorSpec(b + "attn_norm.weight", GgmlType.F32, new long[] {s.hidden}));
            t.add(new GgufTensorSpec(b + "attn_q.weight", GgmlType.BF16, new long[] {s.hidden, q}));
            t.add(new GgufTensorSpec(b + "attn_k.weight", GgmlType.BF16, new long[] {s.hidden, kv}));
            t.add(new GgufTensorSpec(b + "attn_v.weight", GgmlType.BF16, new long[] {s.hidden, kv}));
            t.add(new GgufTensorSpec(b + "attn_q_norm.weight", GgmlType.F32, new long[] {s.headDim}));
            t.add(new GgufTensorSpec(b + "attn_k_norm.weight", GgmlType.F32, new long[] {s.headDim}));
            t.add(new GgufTensorSpec(b + "attn_output.weight", GgmlType.BF16, new long[] {q, s.hidden}));
            t.add(new GgufTensorSpec(b + "post_attention_norm.weight", GgmlType.F32, new long[] {s.hidden}));
            t.add(new GgufTensorSpec(b + "ffn_norm.weight", GgmlType.F32, new long[] {s.hidden}));
            t.add(new GgufTensorSpec(b + "ffn_gate.weight", GgmlType.BF16, new long[] {s.hidden, s.ffn}));
            t.add(new GgufTensorSpec(b + "ffn_up.weight", GgmlType.BF16, new long[] {s.hidden, s.ffn}));
            t.add(new GgufTensorSpec(b + "ffn_down.weight", GgmlType.BF16, new long[] {s.ffn, s.hidden}));
            t.add(new GgufTensorSpec(b + "post_ffw_norm.weight", GgmlType.F32, new long[] {s.hidden}));
        }
        t.add(new GgufTensorSpec("output_norm.weight", GgmlType.F32, new long[] {s.hidden}));
        return t;
    }

    /** gemma3.* hyperparameters as convert_hf_to_gguf writes them, general.file_type MOSTLY_BF16 (32). */
    public static GgufMetadata metadata(Shape s, long seed) {
        GgufMetadata m = new GgufMetadata();
        String a = GemmaArch.GEMMA3.ggufName();
        m.put(General.ARCHITECTURE, GgufValue.string(a));
        m.put(General.TYPE, GgufValue.string("model"));
        m.put(General.NAME, GgufValue.string("requant synthetic gemma3 (seed " + seed + ")"));
        m.put(LLM.contextLength(a), GgufValue.u32(32768));
        m.put(LLM.embeddingLength(a), GgufValue.u32(s.hidden));
        m.put(LLM.blockCount(a), GgufValue.u32(s.layers));
        m.put(LLM.feedForwardLength(a), GgufValue.u32(s.ffn));
        m.put(Attention.headCount(a), GgufValue.u32(s.heads));
        m.put(Attention.headCountKv(a), GgufValue.u32(s.kvHeads));
        m.put(Attention.keyLength(a), GgufValue.u32(s.headDim));
        m.put(Attention.valueLength(a), GgufValue.u32(s.headDim));
        m.put(Attention.layerNormRmsEpsilon(a), GgufValue.f32(1e-6f));
        m.put(Attention.slidingWindow(a), GgufValue.u32(512));
        m.put(Rope.freqBase(a), GgufValue.f32(1e6f));
        m.put(General.FILE_TYPE, GgufValue.u32(32));
        m.put(General.QUANTIZATION_VERSION, GgufValue.u32(2));
        return m;
    }

    /** Writes the file (atomically) with {@code threads} generator threads. */
    public static void write(Path out, Shape shape, long seed, int threads) throws IOException {
        List<GgufTensorSpec> specs = tensors(shape);
        try (TensorEncoder enc = new TensorEncoder(threads);
                GgufWriter w = GgufWriter.create(out, metadata(shape, seed), specs)) {
            for (GgufTensorSpec t : specs) {
                enc.encode(rows(t, seed), t.type(), null, w.beginTensor(t.name()));
            }
            w.commit();
        }
    }

    /** The values of one tensor (before rounding to its type), row by row. */
    public static RowSource rows(GgufTensorSpec t, long seed) {
        int n = (int) t.rowLength();
        long rows = t.rows();
        long tensorSeed = mix(seed ^ fnv(t.name()));
        boolean norm = t.nDims() == 1;
        boolean embedding = t.name().startsWith("token_embd");
        double std = norm ? 0.3 : embedding ? 0.03 : 1.0 / Math.sqrt(n);
        return new RowSource() {
            @Override public int rowLength() { return n; }

            @Override public long rows() { return rows; }

            @Override
            public void read(long first, int count, float[] dst) {
                for (int i = 0; i < count; i++) fillRow(mix(tensorSeed + first + i), n, std, dst, i * n);
            }
        };
    }

    private static void fillRow(long state, int n, double std, float[] dst, int off) {
        // per-row scale, log-normal with sigma 0.25 (rows of trained matrices differ in norm)
        long r = mix(state);
        float scale = (float) (std * Math.exp(0.25 * gauss(r)));
        for (int j = 0; j < n; j++) {
            state += 0x9E3779B97F4A7C15L;
            long z = mix(state);
            float g = gauss(z) * scale;
            if ((z >>> 55) == 0) g *= 3 + (z & 7) * 0.7f; // 1 in 512: an outlier at 3x to 8x
            dst[off + j] = g;
        }
    }

    /** Approximately standard normal from one 64-bit draw: the sum of four 16-bit uniforms (Irwin-Hall), scaled. */
    private static float gauss(long z) {
        int s = (int) (z & 0xFFFF) + (int) ((z >>> 16) & 0xFFFF) + (int) ((z >>> 32) & 0xFFFF) + (int) (z >>> 48);
        return (s - 2 * 65535) * (float) (1.0 / (65536 * Math.sqrt(4.0 / 12)));
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static long fnv(String s) {
        long h = 0xcbf29ce484222325L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) h = (h ^ (b & 0xFF)) * 0x100000001b3L;
        return h;
    }

    /** {@code SyntheticGguf OUT.gguf [SHAPE (default gemma3-1b)] [seed] [threads]}: writes the file unless it exists. */
    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            System.err.println("usage: SyntheticGguf OUT.gguf [tiny|bench-127m|gemma3-1b|gemma3-4b|...] [seed] [threads]");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        Shape shape = args.length > 1 ? Shape.byName(args[1]) : Shape.gemma3_1b();
        long seed = args.length > 2 ? Long.parseLong(args[2]) : 1;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : Runtime.getRuntime().availableProcessors();
        long t0 = System.nanoTime();
        write(out, shape, seed, threads);
        System.err.printf("wrote %s in %.1f s%n", out, (System.nanoTime() - t0) / 1e9);
    }
}
