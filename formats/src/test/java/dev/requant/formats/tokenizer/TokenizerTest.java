package dev.requant.formats.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufValueType;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The encoders on small hand-made vocabularies whose results can be worked out by hand; the match with llama.cpp on
 * real vocabularies and 890 KB of text is checked by the converter's interop tests.
 */
class TokenizerTest {
    static final int N = 1, C = 3, U = 4, B = 6, K = 2;

    static GgufMetadata vocab(String model, List<String> tokens, float[] scores, int[] types, String... merges) {
        GgufMetadata md = new GgufMetadata();
        md.put(GgufKeys.Tokenizer.MODEL, GgufValue.string(model));
        md.put(GgufKeys.Tokenizer.TOKENS, GgufValue.array(GgufArray.ofStrings(tokens.toArray(String[]::new))));
        md.put(GgufKeys.Tokenizer.SCORES, GgufValue.array(GgufArray.ofFloat32(scores)));
        md.put(GgufKeys.Tokenizer.TOKEN_TYPE, GgufValue.array(new GgufArray(GgufValueType.INT32, types)));
        if (merges.length > 0) md.put(GgufKeys.Tokenizer.MERGES, GgufValue.array(GgufArray.ofStrings(merges)));
        md.put(GgufKeys.Tokenizer.BOS_ID, GgufValue.u32(1));
        md.put(GgufKeys.Tokenizer.EOS_ID, GgufValue.u32(2));
        md.put(GgufKeys.Tokenizer.ADD_SPACE_PREFIX, GgufValue.bool(false));
        return md;
    }

    /** 0 <unk>, 1 <s>, 2 </s>, 3 <0x41> 'A', 4 <0xC3>, 5 <0xA9>, 6 a, 7 b, 8 ▁, 9 ab, 10 ▁a, 11 ▁ab, 12 <tool>, 13 <end_of_turn>, 14 ba */
    static GgufMetadata spm() {
        return vocab("llama",
                List.of("<unk>", "<s>", "</s>", "<0x41>", "<0xC3>", "<0xA9>", "a", "b", "\u2581", "ab", "\u2581a", "\u2581ab", "<tool>", "<end_of_turn>", "ba"),
                new float[] {0, 0, 0, 0, 0, 0, -1, -2, -3, -4, -5, -6, 0, 0, -3.5f},
                new int[] {K, C, C, B, B, B, N, N, N, N, N, N, U, N, N});
    }

    @Test
    void spmMergesTheBestScoringPairFirst() {
        Tokenizer t = Tokenizer.fromMetadata(spm());
        // "ab": a+b -> ab (-4); " ab": ▁+a -> ▁a (-5) beats nothing else, then ▁a+b? no token; ▁+ab? ab formed first...
        assertThat(t.encode("ab", false, false)).containsExactly(9);
        // " a b" -> ▁ a ▁ b: ▁a (-5) twice? pairs: ▁a, a▁(no), ▁b(no) -> ▁a, ▁, b
        assertThat(t.encode(" a b", false, false)).containsExactly(10, 8, 7);
        // "bab": b+a -> ba (-3.5) beats a+b -> ab (-4): ba, b
        assertThat(t.encode("bab", false, false)).containsExactly(14, 7);
        // " ab": ab (-4) beats ▁a (-5), then ▁+ab -> ▁ab
        assertThat(t.encode(" ab", false, false)).containsExactly(11);
    }

    @Test
    void spmFallsBackToBytesAndAddsBos() {
        Tokenizer t = Tokenizer.fromMetadata(spm());
        assertThat(t.encode("Aé", true, false)).containsExactly(1, 3, 4, 5);
        assertThatThrownBy(() -> t.encode("Z", false, false)).hasMessageContaining("0x5a");
    }

    @Test
    void userDefinedTokensAreAlwaysSplitOutControlOnlyWithParseSpecial() {
        Tokenizer t = Tokenizer.fromMetadata(spm());
        assertThat(t.encode("a<tool>b", false, false)).containsExactly(6, 12, 7);
        // <end_of_turn> is NORMAL in the file, llama.cpp makes it CONTROL (EOT/EOG by text)
        assertThat(t.vocab().attr(13) & LlamaVocab.ATTR_CONTROL).isNotZero();
        assertThat(t.vocab().isEog(13)).isTrue();
        assertThat(t.vocab().eot()).isEqualTo(13);
        assertThat(t.encode("a</s>", false, true)).containsExactly(6, 2);
        assertThat(t.decode(new int[] {10, 12, 2}, false)).isEqualTo(" a<tool>");
        assertThat(t.decode(new int[] {10, 12, 2}, true)).isEqualTo(" a<tool></s>");
    }

    @Test
    void addSpacePrefixPrependsAfterSpecials() {
        GgufMetadata md = spm();
        md.put(GgufKeys.Tokenizer.ADD_SPACE_PREFIX, GgufValue.bool(true));
        Tokenizer t = Tokenizer.fromMetadata(md);
        // llama.cpp prefixes a space to every text fragment that follows BOS or a special token
        assertThat(t.encode("ab<tool>ab", true, false)).containsExactly(1, 11, 12, 11);
        assertThat(t.encode("ab<tool>ab", false, false)).containsExactly(11, 12, 11);
    }

    /** 0 <pad>, 1 <bos>, 2 <eos>, 3 <0x0A>, 4 <0xC3>, 5 <0xA9>, 6 a, 7 b, 8 ▁, 9 ab, 10 ▁a, 11 \n\n, 12 <|channel>. */
    static GgufMetadata gemma4() {
        return vocab("gemma4",
                List.of("<pad>", "<bos>", "<eos>", "<0x0A>", "<0xC3>", "<0xA9>", "a", "b", "\u2581", "ab", "\u2581a", "\n\n", "<|channel>"),
                new float[13], new int[] {C, C, C, B, B, B, N, N, N, N, N, N, U},
                "a b", "\u2581 a");
    }

    @Test
    void gemma4MergesByRankWithinNewlineRuns() {
        Tokenizer t = Tokenizer.fromMetadata(gemma4());
        assertThat(t.vocab().type()).isEqualTo(LlamaVocab.Type.BPE_GEMMA4);
        // rank 0 "a b" beats rank 1 "▁ a": ▁ab is not a token -> ▁, ab
        assertThat(t.encode(" ab", false, false)).containsExactly(8, 9);
        assertThat(t.encode(" a", false, false)).containsExactly(10);
        // a run of two newlines that is a token stays whole; a single one falls back to its byte token
        assertThat(t.encode("a\n\nb\na", false, false)).containsExactly(6, 11, 7, 3, 6);
        // bytes without a token are dropped (llama.cpp does the same); é has byte tokens
        assertThat(t.encode("éz", false, false)).containsExactly(4, 5);
        // add_bos is forced for gemma4 even though the metadata does not say so
        assertThat(t.encode("a", true, false)).containsExactly(1, 6);
        assertThat(t.encode("a<|channel>b", false, false)).containsExactly(6, 12, 7);
        assertThat(t.decode(new int[] {1, 10, 9, 3}, false)).isEqualTo(" aab\n");
    }

    @Test
    void gemma4NeedsMerges() {
        GgufMetadata md = gemma4();
        md.remove(GgufKeys.Tokenizer.MERGES);
        assertThatThrownBy(() -> Tokenizer.fromMetadata(md)).hasMessageContaining("merges");
        GgufMetadata other = spm();
        other.put(GgufKeys.Tokenizer.MODEL, GgufValue.string("gpt2"));
        assertThatThrownBy(() -> Tokenizer.fromMetadata(other)).hasMessageContaining("'gpt2' is not supported");
    }

    @Test
    void unusedControlTokensAreMarked() {
        GgufMetadata md = vocab("llama", List.of("<unk>", "<s>", "</s>", "<unused0>", "a"), new float[5], new int[] {K, C, C, C, N});
        LlamaVocab v = LlamaVocab.fromMetadata(md);
        assertThat(v.attr(3) & LlamaVocab.ATTR_UNUSED).isNotZero();
        assertThat(v.isEog(2)).isTrue();
    }
}
