package dev.requant.formats.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.MissingNode;
import dev.requant.formats.SharedFiles;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** JsonTree against the reference it replaces: ObjectMapper.readTree with its default settings. */
class JsonTreeTest {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    @TempDir
    Path dir;

    private JsonNode both(String json) throws Exception {
        Path f = Files.writeString(dir.resolve("t.json"), json);
        JsonNode ours = JsonTree.read(f.toFile()), theirs = MAPPER.readTree(f.toFile());
        assertThat(ours).as(json).isEqualTo(theirs);
        // equal trees of the same node classes (an int is an IntNode in both, a large one a LongNode, ...)
        assertThat(ours.toString()).isEqualTo(theirs.toString());
        return ours;
    }

    @Test
    void buildsTheTreeObjectMapperBuilds() throws Exception {
        for (String json : List.of("{}", "[]", "{\"a\": {\"b\": [1, 2.5, -3e-7, true, false, null, \"x\\u2581\"]}}",
                "[2147483647, 2147483648, -2147483649, 9223372036854775807, 9223372036854775808, 1.0, 1e400, -0.0]",
                "{\"k\": 1, \"k\": 2, \"j\": {\"k\": [3]}, \"j\": \"last\"}", "\"just a string\"", "17", "  [ ]  ",
                "{\"rope_scaling\": {\"factor\": 8.0, \"rope_type\": \"linear\"}, \"eos_token_id\": [1, 106]}")) {
            both(json);
        }
        assertThat(both("{\"k\": 1, \"k\": 2}").path("k").asInt()).isEqualTo(2);
        assertThat(both("[9223372036854775808]").get(0).isBigInteger()).isTrue();
        for (String name : List.of("config.json", "tokenizer_config.json", "generation_config.json")) {
            Path f = SharedFiles.golden("hf/gemma3-tiny/" + name);
            assertThat(JsonTree.read(f.toFile())).as(name).isEqualTo(MAPPER.readTree(f.toFile()));
        }
    }

    @Test
    void emptyInputIsTheMissingNodeAndBadInputFailsWhereTheParserStopped() throws Exception {
        assertThat(both("")).isSameAs(MissingNode.getInstance());
        for (String bad : List.of("{\"a\" 1}", "[1, 2", "{\"a\": }", "[1,]x", "{\"a\": tru}")) {
            Path f = Files.writeString(dir.resolve("bad.json"), bad);
            assertThatThrownBy(() -> JsonTree.read(f.toFile())).as(bad).isInstanceOf(JacksonException.class);
            assertThatThrownBy(() -> MAPPER.readTree(f.toFile())).as(bad).isInstanceOf(JacksonException.class);
        }
        Path f = Files.writeString(dir.resolve("line.json"), "{\n  \"a\": 1,\n  \"b\" 2\n}");
        assertThatThrownBy(() -> JsonTree.read(f.toFile())).isInstanceOfSatisfying(JacksonException.class,
                e -> assertThat(e.getLocation().getLineNr()).isEqualTo(3));
    }

    @Test
    void strictReadingRefusesARepeatedKeyAndAnythingAfterTheValue() throws Exception {
        byte[] ok = "{\"a\": {\"b\": 1}}   ".getBytes(StandardCharsets.UTF_8);
        assertThat(JsonTree.readStrict(ok)).isEqualTo(MAPPER.readTree(ok));
        assertThatThrownBy(() -> JsonTree.readStrict("{\"t\": 1, \"t\": 2}".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(JacksonException.class).hasMessageContaining("Duplicate field 't'");
        assertThatThrownBy(() -> JsonTree.readStrict("{\"a\": {\"t\": 1, \"t\": 2}}".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(JacksonException.class).hasMessageContaining("Duplicate field 't'");
        assertThatThrownBy(() -> JsonTree.readStrict("{} {}".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(JacksonException.class).hasMessageContaining("Trailing token");
        assertThatThrownBy(() -> JsonTree.readStrict("{} x".getBytes(StandardCharsets.UTF_8))).isInstanceOf(JacksonException.class);
    }

    /** docs/limits.md: JSON nested at most 1,000 deep, as Jackson's parser allows (the tree is built recursively). */
    @Test
    void nestingIsLimitedAsJacksonLimitsIt() throws Exception {
        both("[".repeat(1000) + "]".repeat(1000));
        Path deep = Files.writeString(dir.resolve("deep.json"), "[".repeat(1001) + "]".repeat(1001));
        assertThatThrownBy(() -> JsonTree.read(deep.toFile())).isInstanceOf(JacksonException.class).hasMessageContaining("1000");
        assertThatThrownBy(() -> MAPPER.readTree(deep.toFile())).isInstanceOf(JacksonException.class).hasMessageContaining("1000");
    }
}
