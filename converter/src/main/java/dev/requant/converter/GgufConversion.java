package dev.requant.converter;

import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufWriter;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Runs a {@link ConversionPlan}: writes the GGUF header, then each tensor in plan order, streamed. A tensor whose stored
 * bytes already are its output type is copied from the checkpoint mapping; any other is read in batches of rows as
 * float32, encoded by its row encoder and written, so the heap holds one batch (about 4 MiB of floats) whatever the
 * model size. The output appears only when every tensor is written (GgufWriter: temporary file + rename).
 */
public final class GgufConversion {
    /** Elements per batch of the computed path. */
    static final int BATCH_ELEMENTS = 1 << 20;

    /** Told about each tensor when it has been written. */
    public interface Listener {
        void tensorWritten(PlannedTensor tensor, long bytes);
    }

    private GgufConversion() {}

    public static void write(ConversionPlan plan, Path out, Listener listener) throws IOException {
        try (GgufWriter w = GgufWriter.create(out, plan.metadata(), plan.specs()); Arena arena = Arena.ofConfined()) {
            Batch batch = new Batch(arena);
            for (PlannedTensor t : plan.tensors()) {
                try (GgufWriter.TensorSink sink = w.beginTensor(t.ggufName())) {
                    writeTensor(t, sink, batch);
                }
                if (listener != null) listener.tensorWritten(t, t.spec().byteSize());
            }
            w.commit();
        }
    }

    private static void writeTensor(PlannedTensor t, GgufWriter.TensorSink sink, Batch batch) throws IOException {
        Optional<MemorySegment> stored = t.recipe().stored(t.decision().type());
        if (stored.isPresent() && t.decision().encoder() == null) {
            sink.write(stored.get());
            return;
        }
        encode(t, batch, (seg) -> sink.write(seg));
    }

    /** Receives encoded bytes batch by batch. */
    interface Output {
        void accept(MemorySegment bytes) throws IOException;
    }

    /** Streams a tensor's rows through its encoder. */
    static void encode(PlannedTensor t, Batch batch, Output out) throws IOException {
        TensorRecipe r = t.recipe();
        RowEncoder enc = t.decision().encoderOrReference();
        GgufTensorSpec spec = t.spec();
        long rowLen = r.rowLength();
        if (rowLen > Integer.MAX_VALUE) throw new IllegalStateException(t.ggufName() + ": row of " + rowLen + " elements");
        int n = (int) rowLen;
        long rowBytes = spec.type().rowBytes(rowLen);
        int rowsPerBatch = (int) Math.max(1, Math.min(r.rows(), BATCH_ELEMENTS / Math.max(1, n)));
        float[] src = batch.floats((long) rowsPerBatch * n);
        MemorySegment dst = batch.bytes(rowsPerBatch * rowBytes);
        for (long row = 0; row < r.rows(); row += rowsPerBatch) {
            int count = (int) Math.min(rowsPerBatch, r.rows() - row);
            r.readRows(row, count, src);
            for (int i = 0; i < count; i++) enc.encodeRow(src, i * n, n, dst, i * rowBytes);
            out.accept(dst.asSlice(0, count * rowBytes));
        }
    }

    /** Reusable batch buffers: floats on the heap, encoded bytes off-heap. */
    static final class Batch {
        private final Arena arena;
        private float[] floats = new float[0];
        private MemorySegment bytes;

        Batch(Arena arena) {
            this.arena = arena;
        }

        float[] floats(long n) {
            if (floats.length < n) floats = new float[(int) n];
            return floats;
        }

        MemorySegment bytes(long n) {
            if (bytes == null || bytes.byteSize() < n) bytes = arena.allocate(Math.max(n, 1), 64);
            return bytes;
        }
    }
}
