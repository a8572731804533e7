package dev.requant.converter.export;

import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * A GGML NVFP4 tensor's codes or block scales in ModelOpt's layout, the inverse of the converter's repack: GGML
 * stores 64-element blocks of four UE4M3 scale bytes and 32 code bytes where sub-block s's byte {@code 8s + j}
 * holds element j (low nibble) and j + 8 (high nibble); ModelOpt stores each row's codes two per byte, element 2k
 * low and 2k + 1 high ({@code weight}, U8 {@code [rows, cols/2]}), and one E4M3 scale byte per 16 elements
 * ({@code weight_scale}, {@code [rows, cols/16]}). The bits are moved, never recomputed.
 */
final class Nvfp4Unpacked implements TensorBytes {
    enum Part { CODES, SCALES }

    private static final long BATCH_BYTES = 1 << 20;

    private final MemorySegment data;
    private final long rows, cols;
    private final Part part;

    Nvfp4Unpacked(MemorySegment data, long rows, long cols, Part part) {
        if (cols % 64 != 0) throw new IllegalArgumentException("NVFP4 rows of " + cols + " are not whole 64-element blocks");
        this.data = data;
        this.rows = rows;
        this.cols = cols;
        this.part = part;
    }

    @Override
    public void writeTo(SafetensorsWriter.TensorSink sink) throws IOException {
        long outRow = part == Part.CODES ? cols / 2 : cols / 16;
        int perBatch = (int) Math.max(1, Math.min(rows, BATCH_BYTES / outRow));
        byte[] buf = new byte[(int) (perBatch * outRow)];
        long superBlocks = cols / 64;
        for (long r0 = 0; r0 < rows; r0 += perBatch) {
            int count = (int) Math.min(perBatch, rows - r0);
            int p = 0;
            for (long r = r0; r < r0 + count; r++) {
                long o = r * superBlocks * 36;
                for (long sb = 0; sb < superBlocks; sb++, o += 36) {
                    for (int s = 0; s < 4; s++) {
                        if (part == Part.SCALES) {
                            buf[p++] = data.get(LittleEndian.BYTE, o + s);
                            continue;
                        }
                        int[] c = new int[16];
                        for (int j = 0; j < 8; j++) {
                            int q = data.get(LittleEndian.BYTE, o + 4 + s * 8 + j) & 0xFF;
                            c[j] = q & 0x0F;
                            c[j + 8] = q >>> 4;
                        }
                        for (int k = 0; k < 8; k++) buf[p++] = (byte) (c[2 * k] | c[2 * k + 1] << 4);
                    }
                }
            }
            sink.write(ByteBuffer.wrap(buf, 0, p));
        }
    }
}
