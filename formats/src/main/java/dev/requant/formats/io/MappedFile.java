package dev.requant.formats.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Maps a whole file read-only, once, into a shared arena so that slices can be read from several threads; the file's
 * reader owns the arena and closes it.
 */
public final class MappedFile {
    private MappedFile() {}

    /** What a reader builds from the mapping; if it throws, the mapping is released. */
    @FunctionalInterface
    public interface Parser<T> {
        T parse(Path path, Arena arena, MemorySegment mapping) throws IOException;
    }

    /** @param kind what the file should be, for the message when it is a directory ("GGUF file") */
    public static <T> T open(Path path, String kind, Parser<T> parser) throws IOException {
        InputFiles.requireRegular(path, kind);
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            MemorySegment seg = size == 0 ? MemorySegment.ofArray(new byte[0]) : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return parser.parse(path, arena, seg);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }
}
