package dev.requant.runtime.eval;

import dev.requant.formats.FormatException;
import dev.requant.formats.io.AtomicFile;
import dev.requant.formats.io.LittleEndian;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * llama-perplexity's {@code --kl-divergence-base} file (perplexity.cpp perplexity() writes it, kl_divergence() reads
 * it; llamacpp-formats.md §6.2), little-endian:
 * <pre>
 *   char   magic[8] = "_logits_"
 *   int32  n_ctx, n_vocab, n_chunk
 *   int32  tokens[n_chunk * n_ctx]          original tokens (no BOS substitution)
 *   per chunk, per scored position i = n_ctx/2 .. n_ctx-2 (n_ctx - 1 - n_ctx/2 records):
 *     uint16 record[2*((n_vocab+1)/2) + 4]  float scale, float min_log_prob, uint16 q[n_vocab], pad
 * </pre>
 * The reader maps the file and checks its size against the header before trusting anything.
 */
public final class LogitsFile implements AutoCloseable {
    static final byte[] MAGIC = "_logits_".getBytes(StandardCharsets.US_ASCII);
    static final long HEADER_BYTES = 8 + 3 * 4;

    private final Path path;
    private final Arena arena;
    private final MemorySegment map;
    private final int nCtx, nVocab, nChunk;

    private LogitsFile(Path path, Arena arena, MemorySegment map, int nCtx, int nVocab, int nChunk) {
        this.path = path;
        this.arena = arena;
        this.map = map;
        this.nCtx = nCtx;
        this.nVocab = nVocab;
        this.nChunk = nChunk;
    }

    /** Records per chunk: the scored positions n_ctx/2 .. n_ctx-2. */
    public static int scoredPerChunk(int nCtx) {
        return nCtx - 1 - nCtx / 2;
    }

    /** Whether the file starts with the logits-file magic (used to tell it from a GGUF or a folder). */
    public static boolean looksLikeLogitsFile(Path p) {
        if (!Files.isRegularFile(p)) return false;
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(8);
            while (b.hasRemaining() && ch.read(b) > 0) { }
            return !b.hasRemaining() && java.util.Arrays.equals(b.array(), MAGIC);
        } catch (IOException e) {
            return false;
        }
    }

    public static LogitsFile open(Path path) throws IOException {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            MemorySegment map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            if (size < HEADER_BYTES || !java.util.Arrays.equals(map.asSlice(0, 8).toArray(ValueLayout.JAVA_BYTE), MAGIC)) {
                throw new FormatException(path, 0, "magic", "not a llama-perplexity logits file (no \"_logits_\" magic)");
            }
            int nCtx = map.get(LittleEndian.INT, 8);
            int nVocab = map.get(LittleEndian.INT, 12);
            int nChunk = map.get(LittleEndian.INT, 16);
            if (nCtx < 4) throw new FormatException(path, 8, "n_ctx", "n_ctx " + nCtx + " is too small");
            if (nVocab < 1) throw new FormatException(path, 12, "n_vocab", "n_vocab " + nVocab + " is not positive");
            if (nChunk < 1) throw new FormatException(path, 16, "n_chunk", "n_chunk " + nChunk + " is not positive");
            long tokens = (long) nCtx * nChunk;
            long recordBytes = 2L * TokenScores.recordWords(nVocab);
            long expected = HEADER_BYTES + 4 * tokens + (long) nChunk * scoredPerChunk(nCtx) * recordBytes;
            if (size < expected) {
                long have = Math.max(0, size - HEADER_BYTES - 4 * tokens) / (scoredPerChunk(nCtx) * recordBytes);
                throw new FormatException(path, "truncated: the header promises " + nChunk + " chunks of n_ctx " + nCtx
                        + " (" + expected + " bytes) but the file has " + size + " bytes (" + have + " complete chunks)");
            }
            if (size > expected) {
                throw new FormatException(path, expected, null, (size - expected) + " unexpected bytes after the last record");
            }
            LogitsFile f = new LogitsFile(path, arena, map, nCtx, nVocab, nChunk);
            for (int i = 0; i < tokens; i++) {
                int t = f.token(i);
                if (t < 0 || t >= nVocab) throw new FormatException(path, HEADER_BYTES + 4L * i, "tokens", "token id " + t + " is outside n_vocab " + nVocab);
            }
            return f;
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    public Path path() { return path; }

    public int nCtx() { return nCtx; }

    public int nVocab() { return nVocab; }

    public int nChunk() { return nChunk; }

    /** Token i of the evaluated text (i < n_chunk·n_ctx). */
    public int token(long i) {
        return map.get(LittleEndian.INT, HEADER_BYTES + 4 * i);
    }

    public int[] tokens() {
        int[] t = new int[nCtx * nChunk];
        for (int i = 0; i < t.length; i++) t[i] = token(i);
        return t;
    }

    /** Copies record {@code r} (0 ≤ r < scoredPerChunk) of chunk {@code chunk} into {@code rec} (recordWords shorts). */
    public void record(int chunk, int r, short[] rec) {
        long words = TokenScores.recordWords(nVocab);
        long off = HEADER_BYTES + 4L * nCtx * nChunk + ((long) chunk * scoredPerChunk(nCtx) + r) * words * 2;
        MemorySegment.copy(map, LittleEndian.SHORT, off, rec, 0, (int) words);
    }

    @Override
    public void close() { arena.close(); }

    /** Streams a logits file: header and tokens first, then the records chunk by chunk; visible only on commit. */
    public static final class Writer implements AutoCloseable {
        private final AtomicFile out;
        private final int nCtx, nVocab, nChunk;
        private int chunksWritten;

        public Writer(Path target, int nCtx, int nVocab, int nChunk, int[] tokens) throws IOException {
            if (tokens.length < (long) nCtx * nChunk) throw new IllegalArgumentException("need " + (long) nCtx * nChunk + " tokens");
            this.nCtx = nCtx;
            this.nVocab = nVocab;
            this.nChunk = nChunk;
            out = AtomicFile.create(target);
            ByteBuffer b = ByteBuffer.allocate((int) (HEADER_BYTES + 4L * nCtx * nChunk)).order(ByteOrder.LITTLE_ENDIAN);
            b.put(MAGIC).putInt(nCtx).putInt(nVocab).putInt(nChunk);
            for (int i = 0; i < nCtx * nChunk; i++) b.putInt(tokens[i]);
            write(b.flip());
        }

        /** Appends the records of the next chunk: {@code scoredPerChunk(n_ctx)} records of recordWords shorts each. */
        public void writeChunk(short[] records) throws IOException {
            int words = TokenScores.recordWords(nVocab) * scoredPerChunk(nCtx);
            if (records.length < words) throw new IllegalArgumentException("a chunk has " + words + " words");
            if (chunksWritten == nChunk) throw new IllegalStateException("all " + nChunk + " chunks are written");
            ByteBuffer b = ByteBuffer.allocate(words * 2).order(ByteOrder.LITTLE_ENDIAN);
            b.asShortBuffer().put(records, 0, words);
            write(b);
            chunksWritten++;
        }

        private void write(ByteBuffer b) throws IOException {
            while (b.hasRemaining()) out.channel().write(b);
        }

        /** Renames the finished file into place; fails if chunks are missing. */
        public void commit() throws IOException {
            if (chunksWritten != nChunk) throw new IllegalStateException(chunksWritten + " of " + nChunk + " chunks written");
            out.commit();
        }

        @Override
        public void close() throws IOException { out.close(); }
    }
}
