package dev.requant.converter;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.nvfp4.BlockScaleCensus;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

class Nvfp4SplitTest {
    private static BlockScaleCensus census(int... codes) {
        byte[] b = new byte[codes.length];
        for (int i = 0; i < codes.length; i++) b[i] = (byte) codes[i];
        return BlockScaleCensus.of(MemorySegment.ofArray(b));
    }

    @Test
    void appliedScalesKeepConvertHfToGgufsSplit() {
        Nvfp4Split s = Nvfp4Split.choose(3.1e-5f, census(0x7E, 0x30), LlamaCppScaleUse.APPLIED, false, false);
        assertThat(s.outcome()).isEqualTo(Nvfp4Split.Outcome.UPSTREAM);
        assertThat(s.shift()).isZero();
        assertThat(s.scale()).isEqualTo(3.1e-5f);
        assertThat(s.residual()).isEqualTo(1f);
    }

    @Test
    void aPowerOfTwoScaleWithinReachFoldsAway() {
        // 0x70 = 256 and 0x60 = 64 shift down by 4 exactly (16 and 4); scale 2^-4 folds: block scales x 2^-4, scale 1
        Nvfp4Split s = Nvfp4Split.choose(0x1p-4f, census(0x70, 0x60, 0x00), LlamaCppScaleUse.LOADED_UNUSED, false, false);
        assertThat(s.outcome()).isEqualTo(Nvfp4Split.Outcome.FOLDED);
        assertThat(s.shift()).isEqualTo(4);
        assertThat(s.scale()).isEqualTo(1f);
        assertThat(s.exactInLlamaCpp()).isTrue();
        // scales above 1 fold upwards while the block scales stay at or below 448
        Nvfp4Split up = Nvfp4Split.choose(4f, census(0x50, 0x3F), LlamaCppScaleUse.NOT_LOADED, false, false);
        assertThat(up.outcome()).isEqualTo(Nvfp4Split.Outcome.FOLDED);
        assertThat(up.shift()).isEqualTo(-2);
    }

    @Test
    void unfoldableDroppedScalesShiftAsFarAsTheSmallestBlockScaleAllows() {
        // 0x09 = 2^-6 * 1.125 = 9 * 2^-9: it cannot go below 2^-6 without losing its last mantissa bit
        BlockScaleCensus c = census(0x7E, 0x09);
        assertThat(c.maxExactShiftDown()).isZero();
        BlockScaleCensus c2 = census(0x7E, 0x48); // 0x48 = 2^2: exact down to 2^-9, 11 steps
        assertThat(c2.maxExactShiftDown()).isEqualTo(11);
        float s2 = 3.3e-5f; // round(-log2) = 15
        Nvfp4Split gate = Nvfp4Split.choose(s2, c2, LlamaCppScaleUse.LOADED_UNUSED, false, false);
        assertThat(gate.outcome()).isEqualTo(Nvfp4Split.Outcome.SHIFTED_INEXACT);
        assertThat(gate.shift()).isEqualTo(11);
        assertThat(gate.scale()).isEqualTo(Math.scalb(s2, 11));
        assertThat(gate.residual()).isEqualTo(1f / Math.scalb(s2, 11));
        assertThat(Nvfp4Split.choose(s2, c2, LlamaCppScaleUse.LOADED_UNUSED, true, false).outcome()).isEqualTo(Nvfp4Split.Outcome.SHIFTED);
        assertThat(Nvfp4Split.choose(s2, c2, LlamaCppScaleUse.LOADED_UNUSED, true, true).outcome()).isEqualTo(Nvfp4Split.Outcome.FALLBACK);
        assertThat(Nvfp4Split.choose(s2, c2, LlamaCppScaleUse.LOADED_UNUSED, false, true).outcome()).isEqualTo(Nvfp4Split.Outcome.FALLBACK);
        assertThat(Nvfp4Split.choose(s2, c2, LlamaCppScaleUse.NOT_LOADED, false, false).outcome()).isEqualTo(Nvfp4Split.Outcome.FALLBACK);
        // a scale near 1 only needs a small exact shift
        Nvfp4Split near = Nvfp4Split.choose(0.3f, c2, LlamaCppScaleUse.LOADED_UNUSED, true, false);
        assertThat(near.shift()).isEqualTo(2);
        assertThat(near.scale()).isEqualTo(1.2f);
    }

    @Test
    void llamaCppScaleUseFollowsTheGraphs() {
        assertThat(LlamaCppScaleUse.of("gemma3", "blk.0.attn_q.weight")).isEqualTo(LlamaCppScaleUse.APPLIED);
        assertThat(LlamaCppScaleUse.of("gemma3", "blk.0.attn_output.weight")).isEqualTo(LlamaCppScaleUse.APPLIED);
        assertThat(LlamaCppScaleUse.of("gemma3", "blk.0.ffn_gate.weight")).isEqualTo(LlamaCppScaleUse.LOADED_UNUSED);
        assertThat(LlamaCppScaleUse.of("gemma4", "blk.0.ffn_gate.weight")).isEqualTo(LlamaCppScaleUse.APPLIED);
        assertThat(LlamaCppScaleUse.of("gemma4", "blk.0.inp_gate.weight")).isEqualTo(LlamaCppScaleUse.NOT_LOADED);
        assertThat(LlamaCppScaleUse.of("gemma4", "per_layer_model_proj.weight")).isEqualTo(LlamaCppScaleUse.NOT_LOADED);
        assertThat(LlamaCppScaleUse.of("gemma3", "token_embd.weight")).isEqualTo(LlamaCppScaleUse.NOT_LOADED);
        assertThat(LlamaCppScaleUse.of("gemma3", "output.weight")).isEqualTo(LlamaCppScaleUse.APPLIED);
        assertThat(LlamaCppScaleUse.factorNormalizedAway("gemma3", "blk.2.ffn_down.weight")).isTrue();
        assertThat(LlamaCppScaleUse.factorNormalizedAway("gemma3", "blk.2.ffn_gate.weight")).isFalse();
    }
}
