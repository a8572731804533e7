package dev.requant.testmodels;

import dev.requant.formats.tokenizer.SentencePieceModel;
import dev.requant.formats.tokenizer.TokenType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes a synthetic checkpoint from the command line (benchmarks):
 * {@code java -cp requant.jar dev.requant.testmodels.SyntheticCheckpointTool --out DIR [--family gemma3|gemma4]
 * [--layers N] [--hidden N] [--ff N] [--heads N] [--kv-heads N] [--head-dim N] [--shard-bytes N] [--seed N]
 * [--vocab N] [--qat max8|absmax7|learned[:fp32]]}; with --qat every 2-D weight sits on a Q4_0 lattice of that scale
 * rule ({@link QatWeights}), scales held in BF16 unless ":fp32". {@code --vocab N}: a tokenizer of N pieces (the golden
 * tiny model's, then made-up words), and an embedding of N rows, as Gemma's 262,144-piece vocabulary gives.
 */
public final class SyntheticCheckpointTool {
    private SyntheticCheckpointTool() {}

    public static void main(String[] args) throws Exception {
        Path out = null;
        SyntheticCheckpoint.Builder b = SyntheticCheckpoint.gemma3();
        for (int i = 0; i < args.length; i++) {
            String k = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            if (v == null) throw new IllegalArgumentException(k + " needs a value");
            i++;
            switch (k) {
                case "--out" -> out = Path.of(v);
                case "--family" -> b = copy(b, switch (v) {
                    case "gemma3" -> SyntheticCheckpoint.gemma3();
                    case "gemma4" -> SyntheticCheckpoint.gemma4();
                    case "gemma4-unified" -> SyntheticCheckpoint.gemma4Unified();
                    default -> throw new IllegalArgumentException("family " + v);
                });
                case "--layers" -> b.layers(Integer.parseInt(v));
                case "--hidden" -> b.hiddenSize(Integer.parseInt(v));
                case "--ff" -> b.intermediateSize(Integer.parseInt(v));
                case "--heads" -> b.heads(Integer.parseInt(v));
                case "--kv-heads" -> b.kvHeads(Integer.parseInt(v));
                case "--head-dim" -> b.headDim(Integer.parseInt(v));
                case "--shard-bytes" -> b.maxShardBytes(Long.parseLong(v));
                case "--seed" -> b.seed(Long.parseLong(v));
                case "--vocab" -> b.tokenizer(tokenizerOf(Integer.parseInt(v)));
                case "--qat" -> {
                    String[] p = v.split(":");
                    QatWeights.ScaleRule rule = switch (p[0]) {
                        case "max8" -> QatWeights.ScaleRule.MAX_NEG8;
                        case "absmax7" -> QatWeights.ScaleRule.ABSMAX_7;
                        case "learned" -> QatWeights.ScaleRule.LEARNED;
                        default -> throw new IllegalArgumentException("qat rule " + p[0]);
                    };
                    QatWeights.ScaleDtype dtype = p.length > 1 && p[1].equals("fp32") ? QatWeights.ScaleDtype.FP32 : QatWeights.ScaleDtype.BF16;
                    QatWeights.Assignment a = QatWeights.Assignment.of(rule, dtype);
                    b.weights(QatWeights.generator(1, 0.02f, name -> a, WeightGenerator.hashed(1)));
                }
                default -> throw new IllegalArgumentException("unknown option " + k);
            }
        }
        if (out == null) throw new IllegalArgumentException("--out DIR is required");
        long start = System.nanoTime();
        b.write(out);
        System.out.printf("%s: %d bytes of tensors in %.1f s%n", out, b.totalBytes(), (System.nanoTime() - start) / 1e9);
    }

    /**
     * The golden tiny SentencePiece model grown to {@code pieces} pieces with made-up words ("▁~w" and the index in
     * base 36), scored below every real piece.
     */
    static SentencePieceModel tokenizerOf(int pieces) throws IOException {
        SentencePieceModel tiny = SentencePieceModel.read(Golden.hf("gemma3-tiny").resolve("tokenizer.model"));
        if (pieces < tiny.pieces().size()) {
            throw new IllegalArgumentException("--vocab must be at least " + tiny.pieces().size() + " (the golden tokenizer's pieces)");
        }
        List<SentencePieceModel.Piece> all = new ArrayList<>(tiny.pieces());
        for (int i = all.size(); i < pieces; i++) all.add(new SentencePieceModel.Piece("\u2581~w" + Integer.toString(i, 36), -100f - i * 1e-3f, TokenType.NORMAL));
        return new SentencePieceModel(all, tiny.trainer(), tiny.normalizer());
    }

    /** Family must come first; other options given before it are not carried over. */
    private static SyntheticCheckpoint.Builder copy(SyntheticCheckpoint.Builder old, SyntheticCheckpoint.Builder fresh) {
        return fresh;
    }
}
