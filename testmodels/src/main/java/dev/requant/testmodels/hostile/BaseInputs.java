package dev.requant.testmodels.hostile;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixEntry;
import dev.requant.formats.imatrix.ImatrixFormat;
import dev.requant.formats.imatrix.ImatrixWriter;
import dev.requant.testmodels.RunnableSyntheticGguf;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.SyntheticGguf;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The valid inputs every hostile case starts from, written once into a folder: a tiny Gemma 3 Hugging Face checkpoint
 * (one shard, and the same split into three shards with an index), a tiny runnable BF16 GGUF with a SentencePiece
 * vocabulary, an imatrix for it in both formats, and a calibration text. All of them convert, quantize, inspect and
 * collect cleanly (the corpus has controls that check so), so a refusal of a case is due to its corruption.
 */
public final class BaseInputs {
    /** The GGUF's shape: a few hundred KiB, vocabulary just above the 260 special and byte tokens. */
    public static final SyntheticGguf.Shape GGUF_SHAPE = new SyntheticGguf.Shape(64, 128, 1, 300, 2, 1, 32);

    private final Path dir;

    private BaseInputs(Path dir) { this.dir = dir; }

    /** The inputs in {@code dir}, written there first unless a complete set is already present. */
    public static synchronized BaseInputs at(Path dir) throws IOException {
        Path done = dir.resolve(".complete");
        if (!Files.exists(done)) {
            Files.createDirectories(dir);
            write(dir);
            Files.writeString(done, "v1\n");
        }
        return new BaseInputs(dir.toAbsolutePath());
    }

    public Path dir() { return dir; }

    /** One-shard Gemma 3 folder. */
    public Path hf() { return dir.resolve("hf"); }

    /** The same model in three shards with model.safetensors.index.json. */
    public Path hfSharded() { return dir.resolve("hf-sharded"); }

    public Path gguf() { return dir.resolve("model.gguf"); }

    public Path imatrixGguf() { return dir.resolve("imatrix.gguf"); }

    public Path imatrixDat() { return dir.resolve("imatrix.dat"); }

    public Path text() { return dir.resolve("text.txt"); }

    /** The checkpoint's builder: small enough that a case costs a few hundred KiB. */
    public static SyntheticCheckpoint.Builder checkpoint() {
        return SyntheticCheckpoint.gemma3().layers(1).hiddenSize(64).intermediateSize(128).heads(2).kvHeads(1).headDim(32).slidingWindow(16);
    }

    private static void write(Path dir) throws IOException {
        checkpoint().write(dir.resolve("hf"));
        checkpoint().maxShardBytes(48 << 10).write(dir.resolve("hf-sharded"));
        RunnableSyntheticGguf.write(dir.resolve("model.gguf"), GGUF_SHAPE, 7, GgmlType.BF16, 1);
        Imatrix im = imatrixFor(RunnableSyntheticGguf.tensors(GGUF_SHAPE, GgmlType.BF16));
        ImatrixWriter.write(dir.resolve("imatrix.gguf"), im, ImatrixFormat.GGUF);
        ImatrixWriter.write(dir.resolve("imatrix.dat"), im, ImatrixFormat.DAT);
        StringBuilder text = new StringBuilder();
        String[] words = {"the", "model", "reads", "a", "file", "and", "writes", "another", "one", "byte", "at", "time"};
        for (int i = 0; i < 600; i++) text.append(words[(i * 7 + i / 5) % words.length]).append(i % 13 == 12 ? ".\n" : " ");
        Files.writeString(dir.resolve("text.txt"), text);
    }

    /** An imatrix with an entry for every 2-D blk weight, as llama-imatrix would collect over 10 chunks of 32 tokens. */
    static Imatrix imatrixFor(List<GgufTensorSpec> tensors) {
        Map<String, ImatrixEntry> entries = new LinkedHashMap<>();
        for (GgufTensorSpec t : tensors) {
            if (!t.name().startsWith("blk.") || t.nDims() != 2) continue;
            float[] sums = new float[(int) t.ne()[0]];
            for (int i = 0; i < sums.length; i++) sums[i] = 320f * (1 + (i % 7) / 7f);
            entries.put(t.name(), new ImatrixEntry(t.name(), sums, new long[] {320}));
        }
        return Imatrix.raw(entries, List.of("text.txt"), 10, 32);
    }

    /** Copies a base folder or file to {@code target} (folders: their files, one level). */
    public static void copy(Path source, Path target) throws IOException {
        if (!Files.isDirectory(source)) {
            Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
            return;
        }
        Files.createDirectories(target);
        List<Path> files;
        try (Stream<Path> s = Files.list(source)) {
            files = new ArrayList<>(s.toList());
        }
        for (Path f : files) Files.copy(f, target.resolve(f.getFileName().toString()), StandardCopyOption.REPLACE_EXISTING);
    }
}
