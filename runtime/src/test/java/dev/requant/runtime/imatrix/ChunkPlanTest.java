package dev.requant.runtime.imatrix;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** llama-imatrix's compute_imatrix chunking and the rows its collector sees. */
class ChunkPlanTest {
    static ImatrixSettings s(int c, int b, int ub, int chunks, int skip) {
        return new ImatrixSettings(c, b, ub, chunks, skip, false, 10, 0);
    }

    @Test
    void chunksAndSequencesPerBatch() {
        ChunkPlan p = ChunkPlan.of(10_000, s(512, 2048, 512, -1, 0));
        assertThat(p.chunks()).isEqualTo(19); // 10000 / 512, the remainder dropped
        assertThat(p.nSeq()).isEqualTo(4);
        assertThat(ChunkPlan.of(10_000, s(512, 2048, 512, 5, 0)).chunks()).isEqualTo(5);
        assertThat(ChunkPlan.of(10_000, s(256, 100, 512, -1, 0)).nSeq()).isEqualTo(1);
        ChunkPlan skipped = ChunkPlan.of(10_000, s(512, 2048, 512, -1, 3));
        assertThat(skipped.firstToken()).isEqualTo(1536);
        assertThat(skipped.chunks()).isEqualTo((10_000 - 1536) / 512);
    }

    @Test
    void batchTokensPutBosFirstInEachChunk() {
        int[] all = new int[100];
        for (int i = 0; i < all.length; i++) all[i] = 1000 + i;
        ChunkPlan p = ChunkPlan.of(all.length, s(10, 30, 512, -1, 2));
        int[] dst = new int[30];
        p.batchTokens(all, 1, 3, 2, dst);
        // chunk 1 after skipping 2 chunks starts at token 30
        assertThat(dst[0]).isEqualTo(2);
        assertThat(dst[1]).isEqualTo(1031);
        assertThat(dst[10]).isEqualTo(2);
        assertThat(dst[29]).isEqualTo(1059);
        p.batchTokens(all, 0, 1, -1, dst);
        assertThat(dst[0]).isEqualTo(1020); // no BOS when the vocabulary adds none
    }

    @Test
    void tooShortTextsFailAsLlamaImatrixDoes() {
        assertThatThrownBy(() -> ChunkPlan.of(1000, s(512, 2048, 512, -1, 0))).hasMessageContaining("needs at least 1024");
        // (skip + 2) * n_ctx must stay below the token count
        assertThatThrownBy(() -> ChunkPlan.of(2048, s(512, 2048, 512, -1, 2))).hasMessageContaining("not enough tokens left");
        assertThat(ChunkPlan.of(2049, s(512, 2048, 512, -1, 2)).chunks()).isEqualTo(2);
    }

    @Test
    void ubatchesOfFewerThan16RowsAreNotCollected() {
        // 4 x 512 in ubatches of 512: everything
        assertThat(ChunkPlan.of(100_000, s(512, 2048, 512, -1, 0)).collectedRows(4)).containsExactly(0, 2048);
        // chunks of 520 in one decode of 1040 split 512 / 512 / 16: all collected
        assertThat(ChunkPlan.of(100_000, s(520, 1040, 512, -1, 0)).collectedRows(2)).containsExactly(0, 1040);
        // chunks of 520, one per decode: 512 + 8 rows, the 8 are skipped
        assertThat(ChunkPlan.of(100_000, s(520, 520, 512, -1, 0)).collectedRows(1)).containsExactly(0, 512);
        // a chunk longer than the batch: decodes of 300 + 220 per chunk, ubatches 256 + 44 and 220
        assertThat(ChunkPlan.of(100_000, s(520, 300, 256, -1, 0)).collectedRows(1)).containsExactly(0, 520);
        // chunks of 8 tokens: one batch of 4 chunks is a ubatch of 32 rows, collected; a lone chunk is not
        ChunkPlan tiny = ChunkPlan.of(1000, s(8, 32, 512, -1, 0));
        assertThat(tiny.collectedRows(4)).containsExactly(0, 32);
        assertThat(tiny.collectedRows(1)).isEmpty();
        assertThat(ChunkPlan.rowCount(new int[] {0, 10, 20, 25})).isEqualTo(15);
    }
}
