package dev.requant.testmodels.hostile;

import dev.requant.formats.io.LittleEndianBuffer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * Valid GGUF files with one key/value added (or the tensors taken away), spliced together from a base file: the base
 * header's key/values, the new one, the base's tensor infos, fresh padding, the base's data section. The new value may
 * be followed by a run of zero bytes left as a hole in the file, so that a case with a 1 GiB string costs no disk.
 */
final class GgufSplice {
    private GgufSplice() {}

    /** Writes {@code base} with an extra key/value: {@code kv} bytes, then {@code zeros} zero bytes (sparse). */
    static void addKv(Path base, Path out, byte[] kv, long zeros) throws IOException {
        GgufLayout l = GgufLayout.of(base);
        byte[] b = Files.readAllBytes(base);
        long kvEnd = l.kvs().getLast().end();
        long infoEnd = l.tensors().isEmpty() ? kvEnd : infoEnd(b, l);
        ByteBuffer head = ByteBuffer.wrap(Arrays.copyOf(b, (int) kvEnd)).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong((int) GgufLayout.N_KV_AT, l.kvs().size() + 1);
        byte[] infos = Arrays.copyOfRange(b, (int) kvEnd, (int) infoEnd);
        long pos = 0;
        try (FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            pos = write(ch, pos, head.array());
            pos = write(ch, pos, kv);
            pos += zeros;
            pos = write(ch, pos, infos);
            long pad = (32 - pos % 32) % 32;
            pos = write(ch, pos, new byte[(int) pad]);
            write(ch, pos, Arrays.copyOfRange(b, (int) l.dataOffset(), b.length));
        }
    }

    /** Writes {@code base}'s header without any tensor: a vocabulary-only file. */
    static void withoutTensors(Path base, Path out) throws IOException {
        GgufLayout l = GgufLayout.of(base);
        byte[] b = Files.readAllBytes(base);
        ByteBuffer head = ByteBuffer.wrap(Arrays.copyOf(b, (int) l.kvs().getLast().end())).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong((int) GgufLayout.N_TENSORS_AT, 0);
        Files.write(out, head.array());
    }

    /** A key/value's bytes: key, then the value's type id and body, which the caller writes into {@code body}. */
    static LittleEndianBuffer kv(String key, int type) {
        return new LittleEndianBuffer().ggufString(key).i32(type);
    }

    private static long infoEnd(byte[] b, GgufLayout l) {
        GgufLayout.Tensor t = l.tensors().getLast();
        return t.offsetAt() + 8;
    }

    private static long write(FileChannel ch, long pos, byte[] bytes) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        while (buf.hasRemaining()) pos += ch.write(buf, pos);
        return pos;
    }
}
