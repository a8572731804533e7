package dev.requant.formats.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.formats.FormatException;
import dev.requant.formats.SharedFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class SentencePieceModelTest {
    static final Path DIR = SharedFiles.golden("hf/gemma3-tiny");

    @Test
    void readsTheGoldenModel() throws IOException {
        SentencePieceModel m = SentencePieceModel.read(DIR.resolve("tokenizer.model"));
        assertThat(m.pieces()).hasSize(1024);
        assertThat(m.pieces().get(0)).isEqualTo(new SentencePieceModel.Piece("<pad>", 0f, TokenType.CONTROL));
        assertThat(m.pieces().get(3).type()).isEqualTo(TokenType.UNKNOWN);
        assertThat(m.pieces().get(4)).isEqualTo(new SentencePieceModel.Piece("<start_of_turn>", 0f, TokenType.USER_DEFINED));
        assertThat(m.pieces().get(7).text()).isEqualTo("<0x00>");
        assertThat(m.pieces().get(7).type()).isEqualTo(TokenType.BYTE);
        assertThat(m.trainer().modelType()).isEqualTo(SentencePieceModel.TrainerSpec.BPE);
        assertThat(m.trainer().byteFallback()).isTrue();
        assertThat(new int[] {m.trainer().padId(), m.trainer().eosId(), m.trainer().bosId(), m.trainer().unkId()}).containsExactly(0, 1, 2, 3);
    }

    /** The token tables equal the arrays convert_hf_to_gguf.py wrote (golden manifest, arrays in full). */
    @Test
    void vocabularyTablesEqualTheGoldenGguf() throws IOException {
        JsonNode kv = new ObjectMapper().readTree(SharedFiles.golden("llamacpp/gemma3-tiny.bf16.manifest.json").toFile()).get("kv");
        VocabularyTables t = SentencePieceVocab.create(DIR, SentencePieceModel.read(DIR.resolve("tokenizer.model")), 1024);
        JsonNode tokens = kv.get("tokenizer.ggml.tokens").get("values"), scores = kv.get("tokenizer.ggml.scores").get("values"),
                types = kv.get("tokenizer.ggml.token_type").get("values");
        assertThat(t.size()).isEqualTo(tokens.size());
        for (int i = 0; i < t.size(); i++) {
            assertThat(t.tokens().get(i)).as("token " + i).isEqualTo(tokens.get(i).asText());
            assertThat(t.scores()[i]).as("score " + i).isEqualTo((float) scores.get(i).asDouble());
            assertThat(t.types()[i]).as("type " + i).isEqualTo(types.get(i).asInt());
        }
    }

    @Test
    void padsToTheConfigVocabSize() throws IOException {
        VocabularyTables t = SentencePieceVocab.create(DIR, SentencePieceModel.read(DIR.resolve("tokenizer.model")), 1030);
        assertThat(t.size()).isEqualTo(1030);
        assertThat(t.tokens().get(1029)).isEqualTo("[PAD1029]");
        assertThat(t.scores()[1029]).isEqualTo(-10000f);
        assertThat(t.types()[1029]).isEqualTo(TokenType.UNUSED.id());
    }

    @Test
    void badBytesAreFormatErrorsNamingTheFileAndOffset() throws IOException {
        byte[] good = Files.readAllBytes(DIR.resolve("tokenizer.model"));
        Path f = Path.of("tokenizer.model");
        assertThatThrownBy(() -> SentencePieceModel.parse(f, Arrays.copyOf(good, 1000)))
                .isInstanceOf(FormatException.class).hasMessageStartingWith("tokenizer.model: ").hasMessageContaining("at byte");
        assertThatThrownBy(() -> SentencePieceModel.parse(f, new byte[0])).hasMessageContaining("no pieces");
        assertThatThrownBy(() -> SentencePieceModel.parse(f, new byte[] {0x0B, 0})).hasMessageContaining("wire type 3");
        assertThatThrownBy(() -> SentencePieceModel.parse(f, new byte[] {0x0A, 0x05, 0x18, (byte) 0x09}))
                .hasMessageContaining("pieces[0]");
        byte[] badType = {0x0A, 0x05, 0x0A, 0x01, 'a', 0x18, 0x09};
        assertThatThrownBy(() -> SentencePieceModel.parse(f, badType)).hasMessageContaining("unknown piece type 9");
    }

    @Test
    void negativeInt32FieldsAreTenByteVarints() throws IOException {
        // trainer_spec { pad_id: -1 } after one piece
        byte[] b = {0x0A, 0x03, 0x0A, 0x01, 'a', 0x12, 0x0C, (byte) 0xD8, 0x02,
                (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x01};
        SentencePieceModel m = SentencePieceModel.parse(Path.of("t"), b);
        assertThat(m.trainer().padId()).isEqualTo(-1);
    }

    @Test
    void specialVocabOfTheGoldenFolder() throws IOException {
        SpecialVocab v = SpecialVocab.load(DIR, false, 1024);
        assertThat(v.specialTokenIds()).containsExactly(java.util.Map.entry("bos", 2), java.util.Map.entry("eos", 1), java.util.Map.entry("pad", 0));
        assertThat(v.addSpecialToken()).containsExactly(java.util.Map.entry("bos", true), java.util.Map.entry("eos", false));
        assertThat(v.chatTemplate().single()).startsWith("{{ bos_token }}");
    }

    @Test
    void writtenModelsReadBackEqual() throws Exception {
        SentencePieceModel golden = SentencePieceModel.read(dev.requant.formats.SharedFiles.golden("hf/gemma3-tiny/tokenizer.model"));
        SentencePieceModel again = SentencePieceModel.parse(java.nio.file.Path.of("again.model"), golden.toBytes());
        org.assertj.core.api.Assertions.assertThat(again).isEqualTo(golden);
        SentencePieceModel odd = new SentencePieceModel(java.util.List.of(new SentencePieceModel.Piece("<unk>", 0f, TokenType.UNKNOWN),
                new SentencePieceModel.Piece("\u2581x", -1.5f, TokenType.NORMAL)),
                new SentencePieceModel.TrainerSpec(2, 2, false, true, 0, -1, -1, -1), new SentencePieceModel.NormalizerSpec("identity", false, false, true));
        org.assertj.core.api.Assertions.assertThat(SentencePieceModel.parse(java.nio.file.Path.of("odd.model"), odd.toBytes())).isEqualTo(odd);
    }

    @Test
    void pieceTextsAreStrictUtf8AndErrorsNameThePiece() throws FormatException {
        Path f = Path.of("t.model");
        // pieces { piece: <bytes> } as ModelProto field 1, inner field 1
        java.util.function.Function<byte[], byte[]> model = text -> {
            byte[] b = new byte[4 + text.length];
            b[0] = 0x0A;
            b[1] = (byte) (2 + text.length);
            b[2] = 0x0A;
            b[3] = (byte) text.length;
            System.arraycopy(text, 0, b, 4, text.length);
            return b;
        };
        byte[] multi = "\u2581h\u00e9llo\u4e16".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        assertThat(SentencePieceModel.parse(f, model.apply(multi)).pieces().get(0).text()).isEqualTo("\u2581h\u00e9llo\u4e16");
        // a well-formed U+FFFD is a character like any other; malformed bytes (a lone continuation byte, an overlong
        // '/', an encoded surrogate, a truncated sequence) are errors that name the piece's field
        assertThat(SentencePieceModel.parse(f, model.apply(new byte[] {'a', (byte) 0xEF, (byte) 0xBF, (byte) 0xBD})).pieces().get(0).text())
                .isEqualTo("a\uFFFD");
        for (byte[] bad : new byte[][] {{'a', (byte) 0x80}, {(byte) 0xC0, (byte) 0xAF}, {(byte) 0xED, (byte) 0xA0, (byte) 0x80},
                {'a', (byte) 0xE2, (byte) 0x96}}) {
            assertThatThrownBy(() -> SentencePieceModel.parse(f, model.apply(bad))).isInstanceOf(FormatException.class)
                    .hasMessageContaining("pieces[0].piece").hasMessageContaining("not valid UTF-8");
        }
        // a piece whose length is cut off names the piece too
        assertThatThrownBy(() -> SentencePieceModel.parse(f, new byte[] {0x0A, (byte) 0x80})).hasMessageContaining("pieces[0]")
                .hasMessageContaining("truncated varint");
        // the second piece's unknown type names pieces[1].type
        byte[] second = {0x0A, 0x03, 0x0A, 0x01, 'a', 0x0A, 0x05, 0x0A, 0x01, 'b', 0x18, 0x09};
        assertThatThrownBy(() -> SentencePieceModel.parse(f, second)).hasMessageContaining("pieces[1].type")
                .hasMessageContaining("unknown piece type 9");
    }

    @Test
    void aPieceWithItsTextGivenTwiceKeepsTheLastAsProtobufDoes() throws FormatException {
        // pieces { piece: "ab" piece: "c" score: 1.5 type: CONTROL }, pieces { piece: "d" }
        byte[] twice = {0x0A, 0x0E, 0x0A, 0x02, 'a', 'b', 0x0A, 0x01, 'c', 0x15, 0x00, 0x00, (byte) 0xC0, 0x3F, 0x18, 0x03,
                0x0A, 0x03, 0x0A, 0x01, 'd'};
        SentencePieceModel m = SentencePieceModel.parse(Path.of("t.model"), twice);
        assertThat(m.pieces()).containsExactly(new SentencePieceModel.Piece("c", 1.5f, TokenType.CONTROL),
                new SentencePieceModel.Piece("d", 0f, TokenType.NORMAL));
        assertThat(m.pieces().texts()).containsExactly("c", "d");
    }
}
