package dev.requant.formats.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Issue 18.7: a FIFO, a device or a folder where a file is read is refused before it is opened (opening a FIFO blocks). */
class InputFilesTest {
    @TempDir Path tmp;

    static Path fifo(Path p) throws Exception {
        Process mk = new ProcessBuilder("mkfifo", p.toString()).start();
        assertThat(mk.waitFor()).isZero();
        return p;
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void fifosDevicesAndFoldersAreRefusedWithoutBlocking() throws Exception {
        Path f = fifo(tmp.resolve("m.gguf"));
        assertThatThrownBy(() -> GgufFile.open(f)).isInstanceOf(FormatException.class).hasMessage(f + ": is not a regular file"
                + " (a FIFO, device or socket?); requant reads a GGUF file only from a regular file");
        assertThatThrownBy(() -> JsonFile.read(f)).hasMessageContaining("not a regular file");
        assertThatThrownBy(() -> InputFiles.present(f, "tokenizer config")).hasMessageContaining("not a regular file");
        assertThatThrownBy(() -> InputFiles.readText(Path.of("/dev/zero"), "text file")).hasMessageContaining("not a regular file");
        assertThatThrownBy(() -> InputFiles.requireRegular(tmp, "text file")).hasMessage(tmp + ": is a directory, not a text file");
        assertThatThrownBy(() -> InputFiles.requireRegular(tmp.resolve("none"), "text file")).isInstanceOf(NoSuchFileException.class);
        assertThat(InputFiles.present(tmp.resolve("none"), "x")).isFalse();

        Path dir = Files.createDirectories(tmp.resolve("hf"));
        fifo(dir.resolve("model.safetensors"));
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir)).hasMessageContaining("model.safetensors: is not a regular file");
    }

    @Test
    void textMustBeUtf8AndTheErrorSaysWhere() throws IOException {
        Path t = Files.write(tmp.resolve("t.txt"), new byte[] {'a', 'b', (byte) 0xC3, '(', 'c'});
        assertThatThrownBy(() -> InputFiles.readText(t, "text file")).isInstanceOf(FormatException.class)
                .hasMessage(t + ": is not valid UTF-8 text (at byte 2)");
        Files.writeString(t, "Grüße ▁ 日本");
        assertThat(InputFiles.readText(t, "text file")).isEqualTo("Grüße ▁ 日本");
    }
}
