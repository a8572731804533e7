package dev.requant.converter;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.Bf16Rows;
import dev.requant.formats.ggml.Float16;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.safetensors.SafetensorsDtype;
import dev.requant.formats.safetensors.SafetensorsTensor;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;

/**
 * A GGUF tensor read from one safetensors tensor: its HF shape reversed into GGUF dims (no transposes are ever needed
 * for Gemma), optionally only its first rows (the embedding trim of Gemma3Model.modify_tensors), optionally with 1
 * added to every value (Gemma 3's RMSNorm stores w and computes x*(1+w)). The addition happens in the precision the
 * Python converter does it in: float32 for BF16/F32 sources, float16 for F16 sources.
 */
public final class CheckpointTensor implements TensorRecipe {
    private final SafetensorsCheckpoint.Entry entry;
    private final long[] ne;
    private final boolean addOne;
    private final MemorySegment data;
    private final SafetensorsDtype dtype;
    private final boolean reshaped;

    CheckpointTensor(SafetensorsCheckpoint.Entry entry, long keptRows, boolean addOne) {
        this(entry, keptRows, addOne, null);
    }

    /** The tensor with other dims of the same element count (torch reshape / unsqueeze: the bytes stay as they are). */
    CheckpointTensor(SafetensorsCheckpoint.Entry entry, long[] ne) {
        this(entry, -1, false, ne.clone());
    }

    private CheckpointTensor(SafetensorsCheckpoint.Entry entry, long keptRows, boolean addOne, long[] reshape) {
        this.entry = entry;
        SafetensorsTensor t = entry.tensor();
        long[] shape = t.shape();
        long[] ne = new long[Math.max(shape.length, 1)];
        if (shape.length == 0) ne[0] = 1;
        for (int i = 0; i < shape.length; i++) ne[i] = shape[shape.length - 1 - i];
        if (keptRows >= 0 && shape.length >= 1) ne[ne.length - 1] = keptRows;
        if (reshape != null) {
            long n = 1;
            for (long d : reshape) n = Math.multiplyExact(n, d);
            if (n != t.elementCount()) {
                throw new IllegalArgumentException(entry.name() + ": " + t.elementCount() + " elements do not fill dims " + java.util.Arrays.toString(reshape));
            }
            ne = reshape;
        }
        this.reshaped = reshape != null;
        this.ne = ne;
        this.addOne = addOne;
        this.dtype = t.dtype();
        this.data = entry.file().data(t);
    }

    public SafetensorsCheckpoint.Entry entry() { return entry; }

    @Override public List<String> sources() { return List.of(entry.name()); }

    @Override
    public String transform() {
        if (reshaped) return "reshape " + java.util.Arrays.toString(entry.tensor().shape()) + " to " + java.util.Arrays.toString(ne);
        boolean trimmed = ne[ne.length - 1] != (entry.tensor().rank() == 0 ? 1 : entry.tensor().shape()[0]);
        String t = addOne ? "norm + 1" : "copy";
        return trimmed ? t + ", first " + ne[ne.length - 1] + " rows" : t;
    }

    @Override public String sourceType() { return dtype.name(); }

    @Override public long[] ne() { return ne.clone(); }

    public boolean addsOne() { return addOne; }

    @Override
    public Optional<MemorySegment> stored(GgmlType type) {
        if (addOne) return Optional.empty();
        boolean same = (type == GgmlType.BF16 && dtype == SafetensorsDtype.BF16) || (type == GgmlType.F16 && dtype == SafetensorsDtype.F16)
                || (type == GgmlType.F32 && dtype == SafetensorsDtype.F32);
        if (!same) return Optional.empty();
        return Optional.of(data.asSlice(0, Math.multiplyExact(rows() * rowLength(), (long) dtype.size())));
    }

    @Override
    public Optional<FileRegion> storedRegion(GgmlType type) {
        return stored(type).map(seg -> new FileRegion(entry.file().path(),
                entry.file().dataStart() + entry.tensor().begin(), seg.byteSize()));
    }

    @Override
    public boolean readFiniteRows(long row, int count, float[] dst) {
        if (dtype == SafetensorsDtype.BF16 && !addOne) {
            long first = row * rowLength();
            return Bf16Rows.toFloatFinite(data, 2 * first, dst, 0, Math.toIntExact(rowLength() * count));
        }
        return TensorRecipe.super.readFiniteRows(row, count, dst);
    }

    @Override
    public void readRows(long row, int count, float[] dst) {
        long n = rowLength() * count;
        long first = row * rowLength();
        if (dtype == SafetensorsDtype.BF16 && !addOne) {
            Bf16Rows.toFloat(data, 2 * first, dst, 0, Math.toIntExact(n)); // the common case, vectorized
            return;
        }
        for (int i = 0; i < n; i++) {
            long e = first + i;
            float v = switch (dtype) {
                case BF16 -> BFloat16.toFloat(data.get(LittleEndian.SHORT, 2 * e));
                case F16 -> Float16.toFloat(data.get(LittleEndian.SHORT, 2 * e));
                case F32 -> data.get(LittleEndian.FLOAT, 4 * e);
                case F64 -> (float) data.get(LittleEndian.DOUBLE, 8 * e);
                default -> throw new IllegalStateException(entry.name() + ": dtype " + dtype + " cannot be read as float");
            };
            if (addOne) v = dtype == SafetensorsDtype.F16 ? Float16.round(v + 1f) : v + 1f;
            dst[i] = v;
        }
    }

    @Override
    public String toString() { return entry.name() + " " + dtype; }
}
