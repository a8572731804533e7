package dev.requant.formats.safetensors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import dev.requant.formats.SharedFiles;
import dev.requant.formats.ggml.BFloat16;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
    @TempDir Path tmp;

    static byte[] file(String header, int dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        return b.array();
    }

    static SafetensorsFile parse(byte[] bytes) throws FormatException {
        return SafetensorsFile.parse(Path.of("m.safetensors"), MemorySegment.ofArray(bytes));
    }

    @Test
    void readsTheGoldenCheckpoint() throws IOException {
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(SharedFiles.golden("hf/gemma3-tiny"))) {
            assertThat(ck.entries()).hasSize(80);
            assertThat(ck.entries().getFirst().name()).isEqualTo("model.embed_tokens.weight");
            var e = ck.get("model.layers.0.self_attn.k_proj.weight").orElseThrow();
            assertThat(e.tensor().dtype()).isEqualTo(SafetensorsDtype.BF16);
            assertThat(e.tensor().shape()).containsExactly(128, 256);
            assertThat(e.file().metadata()).containsEntry("format", "pt");
        }
    }

    @Test
    void writeThenReadKeepsEveryDtypeAndByte() throws IOException {
        Path p = tmp.resolve("w.safetensors");
        byte[] a = new byte[2 * 3 * 2];
        for (int i = 0; i < 6; i++) {
            short s = BFloat16.fromFloat(i - 2.5f);
            a[2 * i] = (byte) s;
            a[2 * i + 1] = (byte) (s >> 8);
        }
        byte[] b = {1, 2, 3, 4, 5, 6, 7, 8};
        var specs = List.of(new SafetensorsWriter.Spec("w.bf16", SafetensorsDtype.BF16, new long[] {2, 3}),
                new SafetensorsWriter.Spec("w.u8", SafetensorsDtype.U8, new long[] {8}));
        try (SafetensorsWriter w = SafetensorsWriter.create(p, Map.of("format", "pt"), specs)) {
            w.write("w.bf16", a);
            w.write("w.u8", b);
            w.commit();
        }
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertThat(f.dataStart() % 8).isZero();
            assertThat(f.metadata()).containsEntry("format", "pt");
            SafetensorsTensor t = f.tensor("w.bf16").orElseThrow();
            float[] v = new float[6];
            t.dtype().toFloats(f.data(t), 0, v, 0, 6);
            assertThat(v).containsExactly(-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f);
            assertThat(f.data(f.tensor("w.u8").orElseThrow()).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(b);
        }
    }

    @Test
    void rejectsBadHeaders() {
        assertThatThrownBy(() -> parse(new byte[4])).hasMessageContaining("only 4 bytes");
        assertThatThrownBy(() -> parse(file("{\"a\"", 0))).hasMessageContaining("not valid JSON");
        assertThatThrownBy(() -> parse(file("[1]", 0))).hasMessageContaining("does not start with '{'");
        byte[] huge = file("{}", 0);
        huge[0] = 100;
        assertThatThrownBy(() -> parse(huge)).hasMessageContaining("is larger than the file");
        assertThatThrownBy(() -> parse(file("{\"t\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2)))
                .hasMessageContaining("unsupported dtype Q4");
        assertThatThrownBy(() -> parse(file("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4)))
                .hasMessageContaining("= 8 bytes, but its data range holds 4");
        assertThatThrownBy(() -> parse(file("{\"t\":{\"dtype\":\"U8\",\"shape\":[-2],\"data_offsets\":[0,2]}}", 2)))
                .hasMessageContaining("invalid dimension");
        assertThatThrownBy(() -> parse(file("{\"t\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", 4)))
                .hasMessageContaining("runs past the end of the data section");
        assertThatThrownBy(() -> parse(file("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 8)))
                .hasMessageContaining("overlaps tensor 'a'");
        assertThatThrownBy(() -> parse(file("{\"__metadata__\":{\"k\":1}}", 0))).hasMessageContaining("not a string");
        assertThatThrownBy(() -> parse(file("{\"t\":{\"dtype\":\"U8\",\"shape\":[4]}}", 4))).hasMessageContaining("data_offsets");
    }

    /**
     * Issue 18.1: the data section must be covered exactly, as the safetensors library requires. A header length two
     * bytes short still parses (the header ends in padding spaces) but would shift every weight; it must be refused.
     */
    @Test
    void theTensorsMustCoverTheDataSectionExactly() throws FormatException {
        String h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}";
        try (SafetensorsFile ok = parse(file(h, 8))) {
            assertThat(ok.tensors()).hasSize(2);
        }
        byte[] padded = file(h + "  ", 8);
        java.nio.ByteBuffer.wrap(padded).order(ByteOrder.LITTLE_ENDIAN).putLong(0, h.length());
        assertThatThrownBy(() -> parse(padded)).isInstanceOf(FormatException.class)
                .hasMessageContaining("2 bytes after the last tensor's data");
        assertThatThrownBy(() -> parse(file(h, 9))).hasMessageContaining("1 bytes after the last tensor's data");
        assertThatThrownBy(() -> parse(file(h.replace("[4,8]", "[6,10]"), 10)))
                .hasMessageContaining("gap of 2 bytes in the data section before tensor 'b'");
        assertThatThrownBy(() -> parse(file(h.replace("[0,4]", "[2,6]").replace("[4,8]", "[6,10]"), 10)))
                .hasMessageContaining("before tensor 'a'");
        assertThatThrownBy(() -> parse(file(h.replace("[4,8]", "[2,6]"), 8))).hasMessageContaining("overlaps tensor 'a'");
        assertThatThrownBy(() -> parse(file("{}", 3))).hasMessageContaining("3 bytes after the last tensor's data");
    }

    @Test
    void theHeaderIsOneJsonObjectWithoutDuplicates() {
        String t = "\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}";
        assertThatThrownBy(() -> parse(file(" {" + t + "}", 4))).hasMessageContaining("does not start with '{'");
        assertThatThrownBy(() -> parse(file("{" + t + "}{}", 4))).hasMessageContaining("not valid JSON");
        assertThatThrownBy(() -> parse(file("{" + t + "," + t + "}", 4))).hasMessageContaining("Duplicate field 't'");
    }

    @Test
    void shardedCheckpointsAreCheckedAgainstTheirIndex() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("model"));
        write(dir.resolve("model-00001-of-00002.safetensors"), "a");
        write(dir.resolve("model-00002-of-00002.safetensors"), "b");
        Files.writeString(dir.resolve(SafetensorsCheckpoint.INDEX),
                "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        try (var ck = SafetensorsCheckpoint.open(dir)) {
            assertThat(ck.entries()).extracting(SafetensorsCheckpoint.Entry::name).containsExactly("a", "b");
        }
        Files.writeString(dir.resolve(SafetensorsCheckpoint.INDEX),
                "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\",\"c\":\"model-00003-of-00003.safetensors\"}}");
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir)).isInstanceOf(FormatException.class)
                .hasMessageContaining("names shard 'model-00003-of-00003.safetensors', which is missing");
        Files.writeString(dir.resolve(SafetensorsCheckpoint.INDEX),
                "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"c\":\"model-00002-of-00002.safetensors\"}}");
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir)).hasMessageContaining("does not list tensor 'b'");
        Files.writeString(dir.resolve(SafetensorsCheckpoint.INDEX),
                "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\",\"z\":\"model-00002-of-00002.safetensors\"}}");
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir)).hasMessageContaining("lists tensor 'z'");
        // a truncated shard
        Files.delete(dir.resolve(SafetensorsCheckpoint.INDEX));
        byte[] whole = Files.readAllBytes(dir.resolve("model-00002-of-00002.safetensors"));
        Files.write(dir.resolve("model-00002-of-00002.safetensors"), java.util.Arrays.copyOf(whole, whole.length - 2));
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir)).hasMessageContaining("model-00002-of-00002.safetensors")
                .hasMessageContaining("truncated");
    }

    private static void write(Path p, String name) throws IOException {
        try (var w = SafetensorsWriter.create(p, Map.of(), List.of(new SafetensorsWriter.Spec(name, SafetensorsDtype.F32, new long[] {2})))) {
            w.write(name, new byte[8]);
            w.commit();
        }
    }
}
