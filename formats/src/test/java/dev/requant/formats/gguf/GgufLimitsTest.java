package dev.requant.formats.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import dev.requant.formats.io.LittleEndianBuffer;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 18.2: a header cannot make the reader recurse without bound or hold more than requant's documented limits
 * (docs/limits.md) in memory. The large files are sparse: their bulk is a hole of zeros that costs no disk.
 */
class GgufLimitsTest {
    @TempDir Path tmp;

    /** A file of {@code head} followed by {@code zeros} zero bytes (a hole) and then {@code tail}. */
    private Path sparse(String name, byte[] head, long zeros, byte[] tail) throws IOException {
        Path p = tmp.resolve(name);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(head), 0);
            ch.write(ByteBuffer.wrap(tail), head.length + zeros);
        }
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(head.length + zeros + tail.length);
        }
        return p;
    }

    @Test
    void arraysNestedDeeperThanTheLimitAreRefusedWithoutRecursingIntoThem() throws FormatException {
        GgufBytes g = new GgufBytes().header(3, 0, 1).str("x");
        g.b.i32(GgufValueType.ARRAY.id()).i32(GgufValueType.ARRAY.id()).i64(1);
        for (int i = 0; i < 200_000; i++) g.b.i32(GgufValueType.ARRAY.id()).i64(1);
        g.b.i32(0).i64(0);
        assertThatThrownBy(() -> GgufFile.parse(Path.of("deep.gguf"), MemorySegment.ofArray(g.bytes())))
                .isInstanceOf(FormatException.class).hasMessageContaining("arrays nested more than " + GgufFile.MAX_ARRAY_DEPTH + " deep");

        GgufBytes ok = new GgufBytes().header(3, 0, 1).str("x");
        ok.b.i32(GgufValueType.ARRAY.id()).i32(GgufValueType.ARRAY.id()).i64(1);
        for (int i = 2; i < GgufFile.MAX_ARRAY_DEPTH; i++) ok.b.i32(GgufValueType.ARRAY.id()).i64(1);
        ok.b.i32(GgufValueType.UINT8.id()).i64(1).u8(7);
        assertThat(GgufFile.parse(Path.of("ok.gguf"), MemorySegment.ofArray(ok.bytes())).llamaCppIncompatibilities())
                .containsExactly("key 'x' is a nested array, which llama.cpp refuses");
    }

    @Test
    void aStringBeyondTheMetadataLimitIsRefusedBeforeItIsRead() throws IOException {
        byte[] head = new GgufBytes().header(3, 0, 1).str("general.name").b.i32(GgufValueType.STRING.id()).i64(1L << 30).toByteArray();
        Path p = sparse("name.gguf", head, 1L << 30, new byte[0]);
        assertThatThrownBy(() -> GgufFile.open(p).close()).isInstanceOf(FormatException.class)
                .hasMessageContaining("metadata exceeds requant's limit of 256 MiB").hasMessageContaining("general.name");
    }

    @Test
    void manyEmptyStringsAreRefusedByTheElementLimit() throws IOException {
        byte[] head = new GgufBytes().header(3, 0, 1).str("x").b.i32(GgufValueType.ARRAY.id()).i32(GgufValueType.STRING.id())
                .i64(120_000_000L).toByteArray();
        Path p = sparse("strings.gguf", head, 120_000_000L * 8, new byte[0]);
        assertThatThrownBy(() -> GgufFile.open(p).close()).isInstanceOf(FormatException.class)
                .hasMessageContaining("array elements exceed requant's limit of " + GgufFile.MAX_METADATA_ELEMENTS);
        // below the limit they parse, all sharing one empty String
        byte[] small = new GgufBytes().header(3, 0, 1).str("x").b.i32(GgufValueType.ARRAY.id()).i32(GgufValueType.STRING.id())
                .i64(1000).zeros(8000).toByteArray();
        GgufArray a = GgufFile.parse(Path.of("s.gguf"), MemorySegment.ofArray(small)).metadata().getArray("x").orElseThrow();
        assertThat(a.strings()).hasSize(1000).allMatch(s -> s == a.strings()[0]);
    }

    @Test
    void theKeyCountIsLimited() {
        byte[] b = new GgufBytes().header(3, 0, GgufFile.MAX_KEYS + 1).b.zeros((int) (14 * (GgufFile.MAX_KEYS + 1))).toByteArray();
        assertThatThrownBy(() -> GgufFile.parse(Path.of("k.gguf"), MemorySegment.ofArray(b)))
                .hasMessageContaining("exceeds requant's limit of " + GgufFile.MAX_KEYS);
    }

    @Test
    void aTensorNameLongerThanLlamaCppAllowsIsRefusedBeforeItIsRead() throws IOException {
        byte[] head = new GgufBytes().header(3, 1, 0).b.i64(1L << 30).toByteArray();
        Path p = sparse("tname.gguf", head, 1L << 30, new byte[64]);
        assertThatThrownBy(() -> GgufFile.open(p).close()).hasMessageContaining("tensor name is 1073741824 bytes, llama.cpp allows 63");
    }

    @Test
    void aBufferGrowsByDoubling() {
        LittleEndianBuffer b = new LittleEndianBuffer();
        for (int i = 0; i < 1 << 20; i++) b.i32(i);
        assertThat(b.size()).isEqualTo(4 << 20);
        assertThat(b.asByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(4 * 12345)).isEqualTo(12345);
    }

}
