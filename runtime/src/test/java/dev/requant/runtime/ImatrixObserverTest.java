package dev.requant.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.imatrix.ImatrixAccumulator;
import org.junit.jupiter.api.Test;

class ImatrixObserverTest {
    @Test
    void collectsBlkWeightsAndOutputOnlyWhenAsked() {
        assertThat(ImatrixObserver.collects("blk.0.attn_q.weight", false)).isTrue();
        assertThat(ImatrixObserver.collects("output.weight", false)).isFalse();
        assertThat(ImatrixObserver.collects("output.weight", true)).isTrue();
        // a tied LM head multiplies by token_embd, which llama-imatrix never collects
        assertThat(ImatrixObserver.collects("token_embd.weight", true)).isFalse();
        assertThat(ImatrixObserver.collects("per_layer_model_proj.weight", true)).isFalse();
    }

    @Test
    void addsOnlyTheCollectedRowsOfTheCurrentChunk() {
        ImatrixAccumulator acc = new ImatrixAccumulator(4);
        ImatrixObserver o = new ImatrixObserver(acc, false);
        float[] rows = {1, 2, 3, 4, 5, 6, 7, 8}; // 4 rows of 2
        o.setRows(new int[] {5, 7}, 4); // this chunk is batch rows 4..7; rows 5 and 6 are collected
        o.onMatMul("blk.1.ffn_up.weight", rows, 4, 2);
        o.onMatMul("output.weight", rows, 4, 2);
        var e = acc.snapshot(null).entry("blk.1.ffn_up.weight").orElseThrow();
        assertThat(e.sums()).containsExactly(3 * 3 + 5 * 5, 4 * 4 + 6 * 6);
        assertThat(e.counts()).containsExactly(2L);
        assertThat(acc.snapshot(null).entry("output.weight")).isEmpty();
        o.onExpertMatMul("blk.0.ffn_down_exps.weight", 1, 3, rows, 2, 2);
        var x = acc.snapshot(null).entry("blk.0.ffn_down_exps.weight").orElseThrow();
        assertThat(x.counts()).containsExactly(0L, 2L, 0L);
        assertThat(x.sums()).containsExactly(0, 0, 1 + 9, 4 + 16, 0, 0);
    }
}
