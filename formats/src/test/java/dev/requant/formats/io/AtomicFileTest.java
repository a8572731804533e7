package dev.requant.formats.io;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Background write-back while writing: the committed file is complete, and a flush racing a close does no harm. */
class AtomicFileTest {
    @Test
    void writeBackWhileWritingLeavesTheCommittedFileComplete(@TempDir Path dir) throws Exception {
        Path target = dir.resolve("out.bin");
        byte[] expected = new byte[3 << 20];
        try (AtomicFile f = AtomicFile.create(target)) {
            for (int i = 0; i < 3; i++) {
                byte[] part = new byte[1 << 20];
                java.util.Arrays.fill(part, (byte) (i + 1));
                System.arraycopy(part, 0, expected, i << 20, part.length);
                ByteBuffer b = ByteBuffer.wrap(part);
                while (b.hasRemaining()) f.channel().write(b);
                f.writeBackInBackground();
                f.writeBackInBackground(); // a second request while one runs is dropped
            }
            f.commit();
            f.writeBackInBackground(); // after the commit: nothing to do, no error
        }
        assertThat(Files.readAllBytes(target)).isEqualTo(expected);
    }

    @Test
    void writeBackRacingAnAbandonedFileLeavesNothingBehind(@TempDir Path dir) throws Exception {
        Path target = dir.resolve("out.bin");
        for (int round = 0; round < 20; round++) {
            AtomicFile f = AtomicFile.create(target);
            f.channel().write(ByteBuffer.allocate(1 << 16));
            f.writeBackInBackground();
            f.close();
            f.writeBackInBackground();
        }
        Thread.sleep(50);
        try (var files = Files.list(dir)) {
            assertThat(files.toList()).isEmpty();
        }
    }
}
