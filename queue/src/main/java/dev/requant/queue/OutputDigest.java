package dev.requant.queue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** Size and SHA-256 of a file, as recorded for every step output. */
public record OutputDigest(long size, String sha256) {
    public static OutputDigest of(Path file) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        long size = 0;
        // Streamed through one direct buffer: outputs are many GiB, and SHA-256 is faster than the disk anyway.
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (ch.read(buf.clear()) >= 0) {
                buf.flip();
                size += buf.remaining();
                md.update(buf);
            }
        }
        return new OutputDigest(size, HexFormat.of().formatHex(md.digest()));
    }
}
