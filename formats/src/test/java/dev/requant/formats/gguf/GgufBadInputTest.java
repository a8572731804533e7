package dev.requant.formats.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class GgufBadInputTest {
    static final Path CORPUS = Path.of("src/test/resources/gguf-bad");

    static Stream<GgufBadInputCorpus.Case> cases() throws IOException {
        if (Boolean.getBoolean("requant.regenerateCorpus")) {
            Files.createDirectories(CORPUS);
            for (var c : GgufBadInputCorpus.cases()) Files.write(CORPUS.resolve(c.name() + ".gguf"), c.bytes());
        }
        return GgufBadInputCorpus.cases().stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyCorpusFileIsRejectedWithAClearMessage(GgufBadInputCorpus.Case c) throws IOException {
        Path file = CORPUS.resolve(c.name() + ".gguf");
        assertThat(file).exists();
        assertThat(Files.readAllBytes(file)).as("committed corpus file matches its builder").isEqualTo(c.bytes());
        assertThatThrownBy(() -> GgufFile.open(file).close())
                .isInstanceOf(FormatException.class)
                .hasMessageStartingWith(file.toString() + ": ")
                .hasMessageContaining(c.expected());
    }

    @Test
    void corpusHasNoStrayFiles() throws IOException {
        try (Stream<Path> s = Files.list(CORPUS)) {
            assertThat(s.map(p -> p.getFileName().toString().replace(".gguf", "")))
                    .containsExactlyInAnyOrderElementsOf(GgufBadInputCorpus.cases().stream().map(GgufBadInputCorpus.Case::name).toList());
        }
    }

    @Test
    void errorsNameTheOffsetAndField() {
        byte[] b = new GgufBytes().header(3, 1, 0).tensor("weights", dev.requant.formats.ggml.GgmlType.F32.id(), 0, -4).data(32, 32).bytes();
        assertThatThrownBy(() -> GgufFile.parse(Path.of("x.gguf"), java.lang.foreign.MemorySegment.ofArray(b)))
                .isInstanceOf(FormatException.class)
                .hasMessage("x.gguf: dimension 0 is -4, must be positive (at byte 43, field tensor_info[0] 'weights'.ne[0])");
    }
}
