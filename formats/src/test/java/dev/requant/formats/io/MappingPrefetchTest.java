package dev.requant.formats.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** MappingPrefetch maps a file's pages into the process (Linux: the mapping's Rss in /proc/self/smaps goes to its size). */
class MappingPrefetchTest {
    @TempDir
    Path dir;

    @Test
    void populatesTheWholeMapping() throws IOException {
        assumeTrue(Files.isReadable(Path.of("/proc/self/smaps")), "Linux only");
        Path f = dir.resolve("weights.bin");
        byte[] data = new byte[6 << 20];
        new Random(1).nextBytes(data);
        Files.write(f, data);
        try (Arena arena = Arena.ofShared(); FileChannel ch = FileChannel.open(f)) {
            MemorySegment m = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            assertThat(rssBytes(m)).as("nothing read yet").isLessThan(data.length / 2);
            assertThat(MappingPrefetch.populate(List.of(m))).isTrue();
            assertThat(rssBytes(m)).isEqualTo(data.length);
        }
    }

    @Test
    void stopsAtAClosedMapping() throws IOException {
        Path f = dir.resolve("small.bin");
        Files.write(f, new byte[8192]);
        MemorySegment m;
        try (Arena arena = Arena.ofShared(); FileChannel ch = FileChannel.open(f)) {
            m = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        }
        assertThat(MappingPrefetch.populate(List.of(m))).isFalse();
    }

    /** The Rss of the mapping that starts at the segment's address, from /proc/self/smaps. */
    private static long rssBytes(MemorySegment m) throws IOException {
        String start = Long.toHexString(m.address()) + "-";
        boolean in = false;
        for (String line : Files.readAllLines(Path.of("/proc/self/smaps"))) {
            if (line.matches("^[0-9a-f]+-[0-9a-f]+ .*")) in = line.startsWith(start);
            else if (in && line.startsWith("Rss:")) return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
        }
        throw new AssertionError("no mapping at " + start);
    }
}
