package dev.requant.formats.io;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class LittleEndianBufferTest {
    @Test
    void bulkWritesEqualTheirElementByElementWrites() {
        int[] ints = {0, 1, -1, Integer.MIN_VALUE, Integer.MAX_VALUE, 0x01020304};
        float[] floats = {0f, -0f, 1.5f, Float.intBitsToFloat(0x7FC01234), Float.NEGATIVE_INFINITY, Float.MIN_VALUE, -10000f};
        LittleEndianBuffer one = new LittleEndianBuffer().u8(7), bulk = new LittleEndianBuffer().u8(7); // an odd start
        for (int v : ints) one.i32(v);
        for (float v : floats) one.f32(v);
        bulk.i32s(ints).f32s(floats);
        assertThat(bulk.toByteArray()).isEqualTo(one.toByteArray());
        // past the first growth of the array
        int[] many = new int[3000];
        for (int i = 0; i < many.length; i++) many[i] = i * 0x9E3779B9; // all bit patterns, signs both ways
        LittleEndianBuffer a = new LittleEndianBuffer(), b = new LittleEndianBuffer();
        for (int v : many) a.i32(v);
        assertThat(b.i32s(many).toByteArray()).isEqualTo(a.toByteArray());
        assertThat(b.size()).isEqualTo(12_000);
    }
}
