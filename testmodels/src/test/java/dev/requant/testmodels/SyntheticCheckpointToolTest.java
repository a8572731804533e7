package dev.requant.testmodels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.formats.safetensors.SafetensorsFile;
import dev.requant.formats.tokenizer.SentencePieceModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticCheckpointToolTest {
    @TempDir Path tmp;

    @Test
    void vocabGrowsTheGoldenTokenizerWithDistinctPieces() throws IOException {
        SentencePieceModel golden = SentencePieceModel.read(Golden.hf("gemma3-tiny").resolve("tokenizer.model"));
        SentencePieceModel grown = SyntheticCheckpointTool.tokenizerOf(golden.pieces().size() + 5000);
        assertThat(grown.pieces()).hasSize(golden.pieces().size() + 5000);
        assertThat(grown.pieces().subList(0, golden.pieces().size())).isEqualTo(golden.pieces());
        assertThat(new HashSet<>(grown.pieces().stream().map(SentencePieceModel.Piece::text).toList())).hasSize(grown.pieces().size());
        assertThatThrownBy(() -> SyntheticCheckpointTool.tokenizerOf(golden.pieces().size() - 1)).hasMessageContaining("--vocab");
    }

    @Test
    void vocabSetsTheTokenizerConfigAndEmbeddingRows() throws Exception {
        int vocab = 300_000;
        Path dir = tmp.resolve("hf");
        SyntheticCheckpointTool.main(new String[] {"--out", dir.toString(), "--layers", "1", "--hidden", "64", "--ff", "128",
                "--heads", "2", "--kv-heads", "1", "--head-dim", "32", "--vocab", String.valueOf(vocab)});
        assertThat(SentencePieceModel.read(dir.resolve("tokenizer.model")).pieces()).hasSize(vocab);
        JsonNode config = new ObjectMapper().readTree(Files.readString(dir.resolve("config.json")));
        assertThat(config.findValue("vocab_size").asInt()).isEqualTo(vocab);
        try (SafetensorsFile st = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
            long[] shape = st.tensors().stream().filter(t -> t.name().endsWith("embed_tokens.weight")).findFirst().orElseThrow().shape();
            assertThat(shape).containsExactly(vocab, 64L);
        }
    }
}
