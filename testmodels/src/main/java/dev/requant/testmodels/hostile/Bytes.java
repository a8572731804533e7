package dev.requant.testmodels.hostile;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** In-place edits of a file's bytes: the corruptions the cases apply. */
final class Bytes {
    private Bytes() {}

    static void putI32(Path file, long at, int v) throws IOException {
        put(file, at, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).flip());
    }

    static void putI64(Path file, long at, long v) throws IOException {
        put(file, at, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).flip());
    }

    static void putI16(Path file, long at, short v) throws IOException {
        put(file, at, ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN).putShort(v).flip());
    }

    static void put(Path file, long at, byte[] b) throws IOException {
        put(file, at, ByteBuffer.wrap(b));
    }

    static long getI64(Path file, long at) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, at);
            return b.flip().getLong();
        }
    }

    private static void put(Path file, long at, ByteBuffer b) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            while (b.hasRemaining()) at += ch.write(b, at);
        }
    }

    static void truncate(Path file, long size) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(size);
        }
    }

    static void append(Path file, byte[] b) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            ch.write(ByteBuffer.wrap(b));
        }
    }

    /** Makes the file {@code size} bytes long without writing the new bytes (a sparse file of zeros on Linux). */
    static void extendSparse(Path file, long size) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
        }
    }
}
