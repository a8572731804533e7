package dev.requant.testmodels;

import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.safetensors.SafetensorsTensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Faults planted into a copy of an NVFP4 checkpoint, for the verifier's tests: each one is a mistake a real export or
 * conversion can make (a NaN block scale, codes packed high-nibble-first, a per-tensor scale off by a factor).
 */
public final class Nvfp4Faults {
    private Nvfp4Faults() {}

    /** Copies a checkpoint folder (flat) to {@code dst}. */
    public static Path copy(Path src, Path dst) throws IOException {
        Files.createDirectories(dst);
        try (Stream<Path> s = Files.list(src)) {
            for (Path p : s.sorted(Comparator.naturalOrder()).toList()) {
                if (Files.isRegularFile(p)) Files.copy(p, dst.resolve(p.getFileName()));
            }
        }
        return dst;
    }

    /** Overwrites bytes of a stored tensor, at {@code offset} from the tensor's first byte. */
    public static void patch(Path dir, String tensor, long offset, byte[] bytes) throws IOException {
        Path shard;
        long at;
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            SafetensorsCheckpoint.Entry e = ck.get(tensor).orElseThrow(() -> new IllegalArgumentException("no tensor " + tensor));
            SafetensorsTensor t = e.tensor();
            if (offset < 0 || offset + bytes.length > t.byteSize()) throw new IllegalArgumentException(tensor + ": patch outside the tensor");
            shard = e.file().path();
            at = e.file().dataStart() + t.begin() + offset;
        }
        try (FileChannel ch = FileChannel.open(shard, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) ch.write(b, at + b.position());
        }
    }

    /** Reads bytes of a stored tensor. */
    public static byte[] read(Path dir, String tensor, long offset, int n) throws IOException {
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            SafetensorsCheckpoint.Entry e = ck.get(tensor).orElseThrow(() -> new IllegalArgumentException("no tensor " + tensor));
            byte[] out = new byte[n];
            java.lang.foreign.MemorySegment.copy(e.file().data(e.tensor()), java.lang.foreign.ValueLayout.JAVA_BYTE, offset, out, 0, n);
            return out;
        }
    }

    /** Block scale {@code index} of {@code module} becomes 0x7F, E4M3's NaN. */
    public static void nanBlockScale(Path dir, String module, long index) throws IOException {
        patch(dir, module + ".weight_scale", index, new byte[] {0x7F});
    }

    /** Every byte of {@code module}'s packed codes gets its nibbles swapped (odd element low, even high). */
    public static void swapNibbles(Path dir, String weightTensor) throws IOException {
        long n;
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            n = ck.get(weightTensor).orElseThrow().tensor().byteSize();
        }
        byte[] b = read(dir, weightTensor, 0, Math.toIntExact(n));
        for (int i = 0; i < b.length; i++) b[i] = (byte) (((b[i] & 0x0F) << 4) | ((b[i] & 0xF0) >>> 4));
        patch(dir, weightTensor, 0, b);
    }

    /** Multiplies a float32 scalar tensor (a per-tensor scale) by {@code factor}. */
    public static void scaleScalar(Path dir, String tensor, float factor) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(read(dir, tensor, 0, 4)).order(ByteOrder.LITTLE_ENDIAN);
        float v = b.getFloat(0) * factor;
        patch(dir, tensor, 0, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(v).array());
    }
}
