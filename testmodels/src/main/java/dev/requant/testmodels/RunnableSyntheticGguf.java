package dev.requant.testmodels;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.TensorEncoder;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufKeys.General;
import dev.requant.formats.gguf.GgufKeys.Tokenizer;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@link SyntheticGguf}'s model (same tensors, same weights) written with every matrix in one GGML type (as
 * llama-quantize --pure would) and with a SentencePiece-style vocabulary, so that llama.cpp loads and runs it too:
 * the file for same-machine speed comparisons of the forward pass (bench/forward.sh). The vocabulary is made up
 * (specials, the 256 byte tokens, then "▁t{i}"); benchmarks feed token ids, not text.
 */
public final class RunnableSyntheticGguf {
    private RunnableSyntheticGguf() {}

    /** SyntheticGguf's metadata plus a llama (SentencePiece) vocabulary of {@code shape.vocab()} tokens. */
    public static GgufMetadata metadata(SyntheticGguf.Shape shape, long seed, GgmlType matrixType) {
        GgufMetadata m = SyntheticGguf.metadata(shape, seed);
        int fileType = switch (matrixType) {
            case Q4_0 -> 2;
            case Q8_0 -> 7;
            case F16 -> 1;
            case BF16 -> 32;
            case F32 -> 0;
            default -> throw new IllegalArgumentException("no llama ftype for " + matrixType);
        };
        m.put(General.FILE_TYPE, GgufValue.u32(fileType));
        int n = shape.vocab();
        String[] tokens = new String[n];
        float[] scores = new float[n];
        int[] types = new int[n];
        String[] specials = {"<pad>", "<eos>", "<bos>", "<unk>"};
        for (int i = 0; i < n; i++) {
            if (i < specials.length) {
                tokens[i] = specials[i];
                types[i] = i == 3 ? 2 : 3; // UNKNOWN, else CONTROL
            } else if (i < specials.length + 256) {
                tokens[i] = String.format("<0x%02X>", i - specials.length);
                types[i] = 6; // BYTE
            } else {
                tokens[i] = "\u2581t" + i;
                types[i] = 1; // NORMAL
                scores[i] = -i;
            }
        }
        m.put(Tokenizer.MODEL, GgufValue.string("llama"));
        m.put(Tokenizer.PRE, GgufValue.string("default"));
        m.put(Tokenizer.TOKENS, GgufValue.array(GgufArray.ofStrings(tokens)));
        m.put(Tokenizer.SCORES, GgufValue.array(GgufArray.ofFloat32(scores)));
        m.put(Tokenizer.TOKEN_TYPE, GgufValue.array(GgufArray.ofInt32(types)));
        m.put(Tokenizer.BOS_ID, GgufValue.u32(2));
        m.put(Tokenizer.EOS_ID, GgufValue.u32(1));
        m.put(Tokenizer.UNK_ID, GgufValue.u32(3));
        m.put(Tokenizer.PAD_ID, GgufValue.u32(0));
        m.put(Tokenizer.ADD_BOS, GgufValue.bool(true));
        m.put(Tokenizer.ADD_EOS, GgufValue.bool(false));
        return m;
    }

    /** SyntheticGguf's tensors with every 2-D one in {@code matrixType} (norms stay F32). */
    public static List<GgufTensorSpec> tensors(SyntheticGguf.Shape shape, GgmlType matrixType) {
        List<GgufTensorSpec> out = new ArrayList<>();
        for (GgufTensorSpec t : SyntheticGguf.tensors(shape)) out.add(t.nDims() >= 2 ? t.withType(matrixType) : t);
        return out;
    }

    /** Writes the file atomically, with {@code threads} encoder threads. */
    public static void write(Path out, SyntheticGguf.Shape shape, long seed, GgmlType matrixType, int threads) throws IOException {
        List<GgufTensorSpec> specs = tensors(shape, matrixType);
        try (TensorEncoder enc = new TensorEncoder(threads);
                GgufWriter w = GgufWriter.create(out, metadata(shape, seed, matrixType), specs)) {
            for (GgufTensorSpec t : specs) enc.encode(SyntheticGguf.rows(t, seed), t.type(), null, w.beginTensor(t.name()));
            w.commit();
        }
    }

    /** {@code RunnableSyntheticGguf OUT.gguf TYPE [SHAPE] [seed] [threads]} (SHAPE as {@link SyntheticGguf.Shape#byName}): writes the file unless it exists. */
    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: RunnableSyntheticGguf OUT.gguf q8_0|q4_0|bf16|f16|f32 [tiny|gemma3-1b|gemma3-4b|gemma3-12b|gemma3-27b] [seed] [threads]");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        if (Files.exists(out)) return;
        GgmlType type = GgmlType.byName(args[1]).orElseThrow(() -> new IllegalArgumentException("unknown type " + args[1]));
        SyntheticGguf.Shape shape = args.length <= 2 ? SyntheticGguf.Shape.gemma3_1b() : SyntheticGguf.Shape.byName(args[2]);
        long seed = args.length > 3 ? Long.parseLong(args[3]) : 1;
        int threads = args.length > 4 ? Integer.parseInt(args[4]) : Runtime.getRuntime().availableProcessors();
        long t0 = System.nanoTime();
        write(out, shape, seed, type, threads);
        System.err.printf("wrote %s in %.1f s%n", out, (System.nanoTime() - t0) / 1e9);
    }
}
