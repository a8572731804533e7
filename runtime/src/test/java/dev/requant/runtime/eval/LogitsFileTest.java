package dev.requant.runtime.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LogitsFileTest {
    @TempDir Path dir;

    @Test
    void writesAndReadsTheLlamaPerplexityLayout() throws Exception {
        int nCtx = 8, nVocab = 5, nChunk = 2;
        int[] tokens = new int[nCtx * nChunk + 3];
        for (int i = 0; i < tokens.length; i++) tokens[i] = i % nVocab;
        int words = TokenScores.recordWords(nVocab);
        int per = LogitsFile.scoredPerChunk(nCtx);
        assertThat(per).isEqualTo(3); // positions 4, 5, 6
        Path p = dir.resolve("base.kld");
        try (LogitsFile.Writer w = new LogitsFile.Writer(p, nCtx, nVocab, nChunk, tokens)) {
            for (int c = 0; c < nChunk; c++) {
                short[] recs = new short[per * words];
                for (int i = 0; i < recs.length; i++) recs[i] = (short) (c * 1000 + i);
                w.writeChunk(recs);
            }
            assertThat(Files.exists(p)).isFalse(); // not before commit
            w.commit();
        }
        byte[] bytes = Files.readAllBytes(p);
        assertThat(bytes).hasSize(8 + 12 + 4 * nCtx * nChunk + 2 * nChunk * per * words);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(new String(bytes, 0, 8)).isEqualTo("_logits_");
        assertThat(b.getInt(8)).isEqualTo(nCtx);
        assertThat(b.getInt(12)).isEqualTo(nVocab);
        assertThat(b.getInt(16)).isEqualTo(nChunk);
        assertThat(b.getInt(20 + 4 * 7)).isEqualTo(7 % nVocab);
        assertThat(LogitsFile.looksLikeLogitsFile(p)).isTrue();
        try (LogitsFile f = LogitsFile.open(p)) {
            assertThat(f.tokens()).containsExactly(Arrays.copyOf(tokens, nCtx * nChunk));
            short[] rec = new short[words];
            f.record(1, 2, rec);
            assertThat(rec[0]).isEqualTo((short) (1000 + 2 * words));
        }
        // truncated, trailing bytes, bad magic, out-of-range token
        Path t = dir.resolve("t.kld");
        Files.write(t, Arrays.copyOf(bytes, bytes.length - 1));
        assertThatThrownBy(() -> LogitsFile.open(t)).isInstanceOf(FormatException.class).hasMessageContaining("truncated").hasMessageContaining("1 complete chunks");
        Files.write(t, Arrays.copyOf(bytes, bytes.length + 2));
        assertThatThrownBy(() -> LogitsFile.open(t)).isInstanceOf(FormatException.class).hasMessageContaining("2 unexpected bytes");
        byte[] bad = bytes.clone();
        bad[0] = 'X';
        Files.write(t, bad);
        assertThatThrownBy(() -> LogitsFile.open(t)).isInstanceOf(FormatException.class).hasMessageContaining("magic");
        bad = bytes.clone();
        ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN).putInt(20 + 4 * 3, 99);
        Files.write(t, bad);
        assertThatThrownBy(() -> LogitsFile.open(t)).isInstanceOf(FormatException.class).hasMessageContaining("token id 99");
    }
}
