package dev.requant.formats.imatrix;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufWriter;
import dev.requant.formats.io.AtomicFile;
import dev.requant.formats.io.LittleEndianBuffer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes an imatrix with raw sums and counts (what {@link ImatrixAccumulator#snapshot} gives) in either of
 * llama-imatrix's formats, byte for byte as its writers do. Files appear only when complete ({@link AtomicFile}).
 */
public final class ImatrixWriter {
    private ImatrixWriter() {}

    public static void write(Path target, Imatrix imatrix, ImatrixFormat format) throws IOException {
        switch (format) {
            case GGUF -> writeGguf(target, imatrix);
            case DAT -> writeDat(target, imatrix);
        }
    }

    private static void requireRaw(Imatrix im) {
        if (im.legacy()) {
            throw new IllegalArgumentException("the imatrix holds legacy values; load it through ImatrixAccumulator first");
        }
    }

    /**
     * llama-imatrix's save_imatrix (tools/imatrix/imatrix.cpp): GGUF v3, alignment 32, the keys general.type,
     * imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size in that order, then per entry in name order
     * {@code <name>.in_sum2} F32 [ne0, nmat] and {@code <name>.counts} F32 [1, nmat], with ggml_n_dims dropping
     * trailing 1s, so a dense entry is [ne0] and [1]. Entries with zero counts are written too.
     */
    public static void writeGguf(Path target, Imatrix im) throws IOException {
        requireRaw(im);
        GgufMetadata md = new GgufMetadata()
                .put(GgufKeys.General.TYPE, GgufValue.string("imatrix"))
                .put(GgufKeys.IMatrix.DATASETS, GgufValue.array(GgufArray.ofStrings(im.datasets().toArray(String[]::new))))
                .put(GgufKeys.IMatrix.CHUNK_COUNT, GgufValue.u32(im.chunkCount()))
                .put(GgufKeys.IMatrix.CHUNK_SIZE, GgufValue.u32(im.chunkSize()));
        List<GgufTensorSpec> specs = new ArrayList<>();
        for (ImatrixEntry e : im.entries().values()) {
            checkNameFits(e.name());
            specs.add(new GgufTensorSpec(e.name() + ImatrixReader.SUFFIX_SUMS, GgmlType.F32,
                    new long[] {e.columns(), e.matrices()}).withTrailingOnesDropped());
            specs.add(new GgufTensorSpec(e.name() + ImatrixReader.SUFFIX_COUNTS, GgmlType.F32,
                    new long[] {1, e.matrices()}).withTrailingOnesDropped());
        }
        try (GgufWriter w = GgufWriter.create(target, md, specs)) {
            for (ImatrixEntry e : im.entries().values()) {
                try (var sink = w.beginTensor(e.name() + ImatrixReader.SUFFIX_SUMS)) {
                    sink.write(floats(e.sums()));
                }
                float[] c = new float[e.matrices()];
                for (int i = 0; i < c.length; i++) c[i] = (float) e.counts()[i];
                try (var sink = w.beginTensor(e.name() + ImatrixReader.SUFFIX_COUNTS)) {
                    sink.write(floats(c));
                }
            }
            w.commit();
        }
    }

    /**
     * llama-imatrix's save_imatrix_legacy: entries whose counts are all zero are skipped; per entry
     * {@code ncall = ceil(max(counts) / chunk_size)} and each value is stored as {@code (sum / count) * ncall} in
     * float arithmetic, with 1 for experts that saw no token; then the trailer: chunk count, and the last dataset
     * name (the -f file, or the last loaded file's dataset when there was none).
     */
    public static void writeDat(Path target, Imatrix im) throws IOException {
        requireRaw(im);
        if (im.chunkSize() <= 0) throw new IllegalArgumentException("a .dat file needs the chunk size, which is " + im.chunkSize());
        long chunkSize = im.chunkSize();
        List<ImatrixEntry> stored = new ArrayList<>();
        for (ImatrixEntry e : im.entries().values()) {
            boolean any = false;
            // llama.cpp compares the counts as int (`for (const int c : counts)`).
            for (long c : e.counts()) any |= (int) c != 0;
            if (any) stored.add(e);
        }
        LittleEndianBuffer b = new LittleEndianBuffer();
        b.i32(stored.size());
        for (ImatrixEntry e : stored) {
            byte[] name = e.name().getBytes(StandardCharsets.UTF_8);
            b.i32(name.length).bytes(name);
            int ncall = (int) ((e.maxCount() + (chunkSize - 1)) / chunkSize);
            b.i32(ncall);
            float[] v = e.sums();
            b.i32(v.length);
            for (int i = 0; i < v.length; i++) {
                float count = (float) e.countOf(i);
                float value = v[i];
                if (count == 0.0f) {
                    value = 1.0f;
                    count = 1.0f;
                }
                b.f32((value / count) * (float) ncall);
            }
        }
        b.i32(im.chunkCount());
        byte[] dataset = im.datasets().isEmpty() ? new byte[0]
                : im.datasets().getLast().getBytes(StandardCharsets.UTF_8);
        b.i32(dataset.length).bytes(dataset);
        try (AtomicFile out = AtomicFile.create(target)) {
            ByteBuffer buf = ByteBuffer.wrap(b.toByteArray());
            while (buf.hasRemaining()) out.channel().write(buf);
            out.commit();
        }
    }

    /** ggml_format_name would silently cut {@code <name>.in_sum2} at 63 bytes and break the pairing on read. */
    private static void checkNameFits(String name) {
        int len = (name + ImatrixReader.SUFFIX_SUMS).getBytes(StandardCharsets.UTF_8).length;
        if (len > GgufFile.MAX_NAME_BYTES) {
            throw new IllegalArgumentException("weight name '" + name + "' is too long for a GGUF imatrix: '" + name
                    + ImatrixReader.SUFFIX_SUMS + "' is " + len + " bytes, llama.cpp allows " + GgufFile.MAX_NAME_BYTES);
        }
    }

    private static ByteBuffer floats(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        return b;
    }
}
