package dev.requant.converter.export;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.Fp4E2M1;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.Ue4m3;
import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.safetensors.SafetensorsDtype;
import dev.requant.formats.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A GGUF tensor written as a dense BF16 or F32 safetensors tensor: rows decoded to float32 by the type's codec
 * (quantized types decode exactly: Q4_0's {@code (q - 8)·d} and Q8_0's {@code q·d} are exact in float32, so a QAT
 * lattice comes back bit for bit), optionally transformed back to the checkpoint's convention, then rounded to the
 * output type. Elements that do not come back exactly (a float value BF16 cannot hold, a norm weight whose
 * {@code w + 1} lost bits) are counted; decoded quantized values are rounded without counting (a QAT lattice's
 * float32 products round to the BF16 weights they were recovered from).
 *
 * <p>NVFP4 rows are decoded as the producers dequantize ({@code e2m1 · (ue4m3 · scale)}, block scale first), with the
 * GGUF's per-tensor {@code .scale}.
 */
final class DenseRows implements TensorBytes {
    /** What is undone on the way back. */
    enum Transform {
        NONE,
        /** Gemma 3's RMSNorm weights: the GGUF holds {@code w + 1} (float32), the checkpoint {@code w}. */
        NORM_MINUS_ONE
    }

    private static final long BATCH_ELEMENTS = 1 << 20;

    private final MemorySegment data;
    private final GgmlType type;
    private final long rowLength, rows;
    private final SafetensorsDtype out;
    private final Transform transform;
    private final float scale;
    private final AtomicLong inexact = new AtomicLong();

    /** @param scale multiplies NVFP4 block scales (the GGUF's {@code .scale}); 1 for other types */
    DenseRows(MemorySegment data, GgmlType type, long rowLength, long rows, SafetensorsDtype out, Transform transform, float scale) {
        if (out != SafetensorsDtype.BF16 && out != SafetensorsDtype.F32) throw new IllegalArgumentException("dense output is BF16 or F32, not " + out);
        this.data = data;
        this.type = type;
        this.rowLength = rowLength;
        this.rows = rows;
        this.out = out;
        this.transform = transform;
        this.scale = scale;
    }

    /** Elements written so far that are not exactly the GGUF's value (after the transform). */
    long inexact() { return inexact.get(); }

    @Override
    public void writeTo(SafetensorsWriter.TensorSink sink) throws IOException {
        int n = Math.toIntExact(rowLength);
        int perBatch = (int) Math.max(1, Math.min(rows, BATCH_ELEMENTS / Math.max(1, n)));
        float[] buf = new float[perBatch * n];
        ByteBuffer bytes = ByteBuffer.allocate(buf.length * out.size()).order(ByteOrder.LITTLE_ENDIAN);
        BlockCodec codec = type == GgmlType.NVFP4 ? null : BlockCodec.of(type);
        long rowBytes = type.rowBytes(rowLength);
        long lost = 0;
        // a float GGUF tensor holds exact values; a quantized one approximations whose rounding is no loss
        boolean countRounding = type.isFloat();
        for (long r = 0; r < rows; r += perBatch) {
            int count = (int) Math.min(perBatch, rows - r);
            int len = count * n;
            if (codec != null) codec.decode(data, r * rowBytes, buf, 0, len);
            else for (int i = 0; i < count; i++) nvfp4Row(r + i, buf, i * n);
            bytes.clear();
            for (int i = 0; i < len; i++) {
                float v = buf[i];
                if (out == SafetensorsDtype.BF16) {
                    short b = transform == Transform.NORM_MINUS_ONE ? normWeightBf16(v) : BFloat16.fromFloat(v);
                    float back = BFloat16.toFloat(b);
                    if (transform == Transform.NORM_MINUS_ONE ? back + 1f != v : countRounding && !sameFloat(back, v)) lost++;
                    bytes.putShort(b);
                } else {
                    float w = transform == Transform.NORM_MINUS_ONE ? normWeightF32(v) : v;
                    if (transform == Transform.NORM_MINUS_ONE && w + 1f != v) lost++;
                    bytes.putFloat(w);
                }
            }
            bytes.flip();
            sink.write(bytes);
        }
        inexact.addAndGet(lost);
    }

    private static boolean sameFloat(float a, float b) {
        return Float.floatToRawIntBits(a) == Float.floatToRawIntBits(b) || (Float.isNaN(a) && Float.isNaN(b));
    }

    /** One NVFP4 row: 36-byte blocks of four UE4M3 scale bytes and 32 code bytes (element j low, j + 8 high). */
    private void nvfp4Row(long r, float[] dst, int off) {
        long o = r * (rowLength / 64) * 36;
        for (long sb = 0; sb < rowLength / 64; sb++, o += 36) {
            for (int s = 0; s < 4; s++) {
                float blockScale = Ue4m3.toFloat(data.get(LittleEndian.BYTE, o + s) & 0xFF) * scale;
                int base = off + (int) (sb * 64) + s * 16;
                for (int j = 0; j < 8; j++) {
                    int q = data.get(LittleEndian.BYTE, o + 4 + s * 8 + j) & 0xFF;
                    dst[base + j] = Fp4E2M1.toFloat(q & 0x0F) * blockScale;
                    dst[base + j + 8] = Fp4E2M1.toFloat(q >>> 4) * blockScale;
                }
            }
        }
    }

    /**
     * The BF16 weight {@code w} whose float32 {@code w + 1} is {@code stored} (the conversion added 1 in float32),
     * nearest to {@code stored - 1}; when no BF16 value gives {@code stored} back (|w| below about 2^-16 lost bits
     * in the sum), the nearest one.
     */
    static short normWeightBf16(float stored) {
        double want = (double) stored - 1.0;
        short c = BFloat16.fromFloat((float) want);
        if (BFloat16.toFloat(c) + 1f == stored) return c;
        short best = c;
        double bestErr = Double.POSITIVE_INFINITY;
        for (int d = -2; d <= 2; d++) {
            short x = (short) (c + d);
            float v = BFloat16.toFloat(x);
            if (!Float.isFinite(v) || v + 1f != stored) continue;
            double err = Math.abs(v - want);
            if (err < bestErr) {
                best = x;
                bestErr = err;
            }
        }
        return best;
    }

    /** As {@link #normWeightBf16} for a float32 checkpoint. */
    static float normWeightF32(float stored) {
        float c = (float) ((double) stored - 1.0);
        for (float x : new float[] {c, Math.nextUp(c), Math.nextDown(c)}) if (x + 1f == stored) return x;
        return c;
    }
}
