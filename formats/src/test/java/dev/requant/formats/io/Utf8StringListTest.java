package dev.requant.formats.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Utf8StringListTest {
    /** The reference: what a strict decoder accepts. */
    private static boolean strict(byte[] b) {
        try {
            StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b));
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }

    private static byte[] bytes(int... v) {
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) b[i] = (byte) v[i];
        return b;
    }

    @Test
    void wellFormedAgreesWithTheStrictDecoderAtEveryBoundary() {
        List<byte[]> cases = new ArrayList<>(List.of(
                bytes(), bytes(0x41), bytes(0x7F), bytes(0x80), bytes(0xBF), bytes(0xC0, 0x80), bytes(0xC1, 0xBF),
                bytes(0xC2, 0x80), bytes(0xDF, 0xBF), bytes(0xC2), bytes(0xC2, 0x41), bytes(0xC2, 0xC0),
                bytes(0xE0, 0x9F, 0xBF), bytes(0xE0, 0xA0, 0x80), bytes(0xE1, 0x80, 0x80), bytes(0xEC, 0xBF, 0xBF),
                bytes(0xED, 0x80, 0x80), bytes(0xED, 0x9F, 0xBF), bytes(0xED, 0xA0, 0x80), bytes(0xED, 0xBF, 0xBF),
                bytes(0xEE, 0x80, 0x80), bytes(0xEF, 0xBF, 0xBF), bytes(0xE2, 0x96), bytes(0xE2, 0x96, 0x41),
                bytes(0xF0, 0x8F, 0xBF, 0xBF), bytes(0xF0, 0x90, 0x80, 0x80), bytes(0xF3, 0xBF, 0xBF, 0xBF),
                bytes(0xF4, 0x8F, 0xBF, 0xBF), bytes(0xF4, 0x90, 0x80, 0x80), bytes(0xF5, 0x80, 0x80, 0x80),
                bytes(0xF8, 0x88, 0x80, 0x80, 0x80), bytes(0xFF), bytes(0xF0, 0x90, 0x80), bytes(0xF0, 0x90, 0x41, 0x80),
                "\u2581the".getBytes(StandardCharsets.UTF_8), "<start_of_turn>".getBytes(StandardCharsets.UTF_8),
                "日本語 😀".getBytes(StandardCharsets.UTF_8)));
        SplittableRandom r = new SplittableRandom(7);
        for (int n = 0; n < 20_000; n++) {
            byte[] b = new byte[1 + r.nextInt(6)];
            for (int i = 0; i < b.length; i++) {
                // mostly lead and continuation bytes, where the rules are
                b[i] = (byte) (r.nextInt(4) == 0 ? r.nextInt(256) : 0x80 + r.nextInt(0x80));
            }
            cases.add(b);
        }
        int accepted = 0;
        for (byte[] b : cases) {
            assertThat(Utf8StringList.wellFormed(b, 0, b.length)).as("%s", java.util.HexFormat.of().formatHex(b)).isEqualTo(strict(b));
            if (strict(b)) accepted++;
        }
        assertThat(accepted).as("the random cases hold well-formed ones too").isGreaterThan(100);
        // within a larger array: only the given range counts
        byte[] framed = bytes(0xFF, 0x41, 0xC3, 0xA9, 0xFF);
        assertThat(Utf8StringList.wellFormed(framed, 1, 3)).isTrue();
        assertThat(Utf8StringList.wellFormed(framed, 1, 2)).isFalse();
    }

    @Test
    void holdsWhatItWasGivenAsAList() {
        List<String> strings = List.of("", "a", "\u2581the", "[PAD7]", "日本語", "😀x");
        Utf8StringList l = Utf8StringList.of(strings);
        assertThat(l).isEqualTo(strings).hasSize(6);
        assertThat(l.hashCode()).isEqualTo(strings.hashCode());
        assertThat(l.byteLength(2)).isEqualTo(6);
        assertThat(l.totalBytes()).isEqualTo(strings.stream().mapToInt(s -> s.getBytes(StandardCharsets.UTF_8).length).sum());
        assertThat(Utf8StringList.of(l)).isSameAs(l);
        assertThat(Utf8StringList.of(List.of("a", "b"))).isNotEqualTo(Utf8StringList.of(List.of("ab", "")));
        assertThatThrownBy(() -> l.byteLength(6)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> l.set(0, "x")).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void builderCopiesRunsDropsTheLastAndRefusesMalformedBytes() {
        Utf8StringList source = Utf8StringList.of("a", "bc", "\u2581d", "e");
        Utf8StringList.Builder b = new Utf8StringList.Builder(1, 1); // grows
        b.add("x").addAll(source, 1, 3).add("gone");
        b.removeLast();
        b.addAll(source, 3, 3).addAll(source, 0, 1);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(8);
            seg.copyFrom(MemorySegment.ofArray(bytes(0x79, 0xC3, 0xA9, 0xED, 0xA0, 0x80, 0, 0)));
            assertThat(b.add(seg, 0, 3)).isTrue();
            assertThat(b.add(seg, 3, 3)).as("a surrogate").isFalse();
        }
        assertThat(b.size()).isEqualTo(5);
        assertThat(b.build()).containsExactly("x", "bc", "\u2581d", "a", "yé");
        assertThatThrownBy(() -> b.addAll(source, 2, 5)).isInstanceOf(IndexOutOfBoundsException.class);
    }

    @Test
    void ggufStringsWritesWhatGgufStringWritesElementByElement() {
        List<String> strings = List.of("<bos>", "", "\u2581hello", "😀");
        LittleEndianBuffer one = new LittleEndianBuffer(), all = new LittleEndianBuffer();
        for (String s : strings) one.ggufString(s);
        all.ggufStrings(Utf8StringList.of(strings));
        assertThat(all.toByteArray()).isEqualTo(one.toByteArray());
    }
}
