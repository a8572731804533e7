package dev.requant.formats.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JsonFileTest {
    @TempDir
    Path dir;

    @Test
    void readsATree() throws Exception {
        Path f = Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"gemma3_text\", \"n\": [1, 2]}");
        assertThat(JsonFile.read(f).path("model_type").asText()).isEqualTo("gemma3_text");
        assertThat(JsonFile.read(f).path("n").size()).isEqualTo(2);
    }

    @Test
    void badJsonNamesTheFileAndWhereTheParserStopped() throws Exception {
        Path f = Files.writeString(dir.resolve("config.json"), "{\n  \"a\": 1,\n  \"b\" 2\n}");
        assertThatThrownBy(() -> JsonFile.read(f)).isInstanceOf(FormatException.class)
                .hasMessageContaining(f.toString()).hasMessageContaining("is not valid JSON").hasMessageContaining("line 3");
    }

    @Test
    void aMissingFileIsNotCalledBadJson() {
        Path f = dir.resolve("absent.json");
        assertThatThrownBy(() -> JsonFile.read(f)).isInstanceOf(IOException.class).isNotInstanceOf(FormatException.class);
    }

    /** Issue 18.2: the whole tree is held in memory, so the file's size is limited (a sparse 1 GiB file here). */
    @Test
    void aJsonFileBeyondTheLimitIsRefusedBeforeItIsRead() throws Exception {
        Path f = Files.writeString(dir.resolve("config.json"), "{\"a\": \"");
        try (var raf = new java.io.RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(1L << 30);
        }
        assertThatThrownBy(() -> JsonFile.read(f)).isInstanceOf(FormatException.class)
                .hasMessage(f + ": is 1073741824 bytes; requant reads JSON files of at most 256 MiB");
    }
}
