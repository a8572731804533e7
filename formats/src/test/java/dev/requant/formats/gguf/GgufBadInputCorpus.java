package dev.requant.formats.gguf;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.io.LittleEndianBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Malformed GGUF files, one per check of llama.cpp's reader (docs/llamacpp-formats.md 1.8), each with a fragment its
 * error message must contain. The files under src/test/resources/gguf-bad/ are exactly these bytes;
 * GgufBadInputTest fails if they drift (regenerate with -Drequant.regenerateCorpus=true).
 */
final class GgufBadInputCorpus {
    record Case(String name, byte[] bytes, String expected) {}

    private static final int F32 = GgmlType.F32.id();

    static List<Case> cases() {
        List<Case> c = new ArrayList<>();
        c.add(new Case("empty", new byte[0], "not a GGUF file"));
        c.add(new Case("short-magic", new byte[] {'G', 'G', 'U'}, "not a GGUF file"));
        c.add(new Case("bad-magic", "GGML\u0003\0\0\0".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1), "magic is 0x"));
        c.add(new Case("version-0", new GgufBytes().header(0, 0, 0).bytes(), "version 0 is invalid"));
        c.add(new Case("version-1", new GgufBytes().header(1, 0, 0).bytes(), "version 1 is not supported"));
        c.add(new Case("version-4", new GgufBytes().header(4, 0, 0).bytes(), "newer than 3"));
        c.add(new Case("version-big-endian", new GgufBytes().header(0x03000000, 0, 0).bytes(), "big-endian"));
        c.add(new Case("truncated-counts", Arrays.copyOf(new GgufBytes().header(3, 0, 0).bytes(), 14), "truncated"));
        c.add(new Case("n-tensors-negative", new GgufBytes().header(3, -1, 0).bytes(), "tensor count -1 cannot fit"));
        c.add(new Case("n-tensors-huge", new GgufBytes().header(3, 1L << 40, 0).bytes(), "cannot fit in the file"));
        c.add(new Case("n-kv-huge", new GgufBytes().header(3, 0, 1L << 40).bytes(), "key/value count"));
        c.add(new Case("key-past-eof", withTail(new GgufBytes().header(3, 0, 1), b -> b.i64(1000).bytes(new byte[8])), "longer than the rest of the file"));
        c.add(new Case("key-over-1gib", withTail(new GgufBytes().header(3, 0, 1), b -> b.i64(1L << 31).bytes(new byte[8])), "1 GiB"));
        c.add(new Case("key-empty", new GgufBytes().header(3, 0, 1).kvU32("", 1).bytes(), "empty key"));
        c.add(new Case("key-duplicate", new GgufBytes().header(3, 0, 2).kvU32("a", 1).kvU32("a", 2).bytes(), "duplicate key 'a'"));
        c.add(new Case("value-type-unknown", withTail(new GgufBytes().header(3, 0, 1).str("k"), b -> b.i32(13).i32(0)), "unknown value type 13"));
        c.add(new Case("array-element-type-unknown", withTail(new GgufBytes().header(3, 0, 1).str("k"), b -> b.i32(9).i32(99).i64(0)), "unknown array element type 99"));
        c.add(new Case("array-count-huge", withTail(new GgufBytes().header(3, 0, 1).str("k"), b -> b.i32(9).i32(4).i64(1L << 29)), "cannot fit in the rest of the file"));
        c.add(new Case("array-count-over-limit", withTail(new GgufBytes().header(3, 0, 1).str("k"), b -> b.i32(9).i32(0).i64(1L << 31)), "2^30"));
        c.add(new Case("string-value-past-eof", withTail(new GgufBytes().header(3, 0, 1).str("k"), b -> b.i32(8).i64(99).bytes(new byte[4])), "longer than the rest of the file"));
        c.add(new Case("string-invalid-utf8", withTail(new GgufBytes().header(3, 0, 1).str("k"), b -> b.i32(8).i64(2).u8(0xC3).u8(0x28)), "not valid UTF-8"));
        c.add(new Case("value-truncated", withTail(new GgufBytes().header(3, 0, 1).str("k"), b -> b.i32(10).i32(7)), "truncated"));
        c.add(new Case("alignment-not-u32", withTail(new GgufBytes().header(3, 0, 1).str("general.alignment"), b -> b.i32(5).i32(32)), "must be UINT32"));
        c.add(new Case("alignment-zero", new GgufBytes().header(3, 0, 1).kvU32("general.alignment", 0).bytes(), "not a power of two"));
        c.add(new Case("alignment-not-power-of-two", new GgufBytes().header(3, 0, 1).kvU32("general.alignment", 48).bytes(), "not a power of two"));
        c.add(new Case("tensor-name-64-bytes", new GgufBytes().header(3, 1, 0).tensor("x".repeat(64), F32, 0, 4).data(32, 16).bytes(), "is 64 bytes, llama.cpp allows 63"));
        c.add(new Case("tensor-name-duplicate", new GgufBytes().header(3, 2, 0).tensor("t", F32, 0, 4).tensor("t", F32, 32, 4).data(32, 48).bytes(), "duplicate tensor name 't'"));
        c.add(new Case("tensor-n-dims-5", new GgufBytes().header(3, 1, 0).tensor("t", F32, 0, 1, 1, 1, 1, 1).data(32, 32).bytes(), "more than 4"));
        c.add(new Case("tensor-dim-zero", new GgufBytes().header(3, 1, 0).tensor("t", F32, 0, 4, 0).data(32, 32).bytes(), "must be positive"));
        c.add(new Case("tensor-dim-negative", new GgufBytes().header(3, 1, 0).tensor("t", F32, 0, -4).data(32, 32).bytes(), "must be positive"));
        c.add(new Case("tensor-element-overflow", new GgufBytes().header(3, 1, 0).tensor("t", F32, 0, 1L << 32, 1L << 32).data(32, 32).bytes(), "overflows 64 bits"));
        c.add(new Case("tensor-byte-size-overflow", new GgufBytes().header(3, 1, 0).tensor("t", GgmlType.F64.id(), 0, 1L << 31, 1L << 31).data(32, 32).bytes(), "overflows 64 bits"));
        c.add(new Case("tensor-type-unknown", new GgufBytes().header(3, 1, 0).tensor("t", 43, 0, 4).data(32, 16).bytes(), "unknown GGML type id 43"));
        c.add(new Case("tensor-type-removed", new GgufBytes().header(3, 1, 0).tensor("t", 4, 0, 32).data(32, 32).bytes(), "was removed"));
        c.add(new Case("tensor-row-not-block-multiple", new GgufBytes().header(3, 1, 0).tensor("t", GgmlType.Q4_0.id(), 0, 30).data(32, 32).bytes(), "not a multiple of the q4_0 block size"));
        c.add(new Case("tensor-info-truncated", Arrays.copyOf(new GgufBytes().header(3, 1, 0).tensor("t", F32, 0, 4).bytes(), 40), "truncated"));
        c.add(new Case("offset-misaligned", new GgufBytes().header(3, 2, 0).tensor("a", F32, 0, 4).tensor("b", F32, 16, 4).data(32, 64).bytes(), "not aligned to 32"));
        c.add(new Case("offset-overlap", new GgufBytes().header(3, 2, 0).tensor("a", F32, 0, 16).tensor("b", F32, 32, 4).data(32, 128).bytes(), "overlaps the previous tensor"));
        c.add(new Case("offset-not-running-sum", new GgufBytes().header(3, 2, 0).tensor("a", F32, 0, 4).tensor("b", F32, 64, 4).data(32, 128).bytes(), "not llama.cpp's running offset 32"));
        c.add(new Case("offset-first-not-zero", new GgufBytes().header(3, 1, 0).tensor("a", F32, 32, 4).data(32, 64).bytes(), "running offset 0"));
        c.add(new Case("data-past-end", new GgufBytes().header(3, 1, 0).tensor("a", F32, 0, 64).data(32, 100).bytes(), "past the end of the file"));
        c.add(new Case("data-start-past-eof", new GgufBytes().header(3, 1, 0).tensor("a", F32, 0, 1).bytes(), "past the end of the file"));
        return c;
    }

    private static byte[] withTail(GgufBytes start, java.util.function.Consumer<LittleEndianBuffer> tail) {
        tail.accept(start.b);
        return start.bytes();
    }
}
