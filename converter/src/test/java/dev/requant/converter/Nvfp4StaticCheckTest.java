package dev.requant.converter;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.model.GgufModelSource;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.nvfp4.Nvfp4Format;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.testmodels.Nvfp4Faults;
import dev.requant.testmodels.RealisticWeights;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.SyntheticNvfp4;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The static verifier passes a correct checkpoint and catches each planted fault. */
class Nvfp4StaticCheckTest {
    @TempDir static Path tmp;
    static Path bf16, good;

    @BeforeAll
    static void checkpoints() throws IOException {
        bf16 = SyntheticCheckpoint.gemma3().layers(2).weights(RealisticWeights.of(5)).write(tmp.resolve("bf16"));
        Map<String, Float> act = new HashMap<>();
        for (String w : SyntheticNvfp4.decoderLinears(bf16)) act.put(w.substring(0, w.length() - ".weight".length()), 12f);
        good = SyntheticNvfp4.write(bf16, tmp.resolve("good"), Nvfp4Format.MODELOPT, act);
    }

    static Nvfp4StaticCheck.Report check(Path checkpoint) throws IOException {
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(checkpoint); ModelSource ref = HfModelSource.open(bf16)) {
            return Nvfp4StaticCheck.run("gemma3", Nvfp4View.ofCheckpoint(checkpoint, ck), ref, Nvfp4StaticCheck.Thresholds.DEFAULT);
        }
    }

    static List<Nvfp4StaticCheck.Problem> failures(Nvfp4StaticCheck.Report r) {
        return r.problems().stream().filter(p -> p.level() == Nvfp4StaticCheck.Level.FAIL).toList();
    }

    @Test
    void aCorrectCheckpointPasses() throws IOException {
        Nvfp4StaticCheck.Report r = check(good);
        assertThat(failures(r)).isEmpty();
        assertThat(r.verdict()).isNotEqualTo(Nvfp4StaticCheck.Level.FAIL);
        assertThat(r.tensors()).hasSize(14).allSatisfy(t -> {
            assertThat(t.reference().relL2()).isBetween(0.01, 0.2);
            assertThat(t.reference().cosine()).isGreaterThan(0.98);
        });
        // the largest block scale of every fusion group is 448 (ModelOpt's amax rule)
        Map<String, Double> groupMax = new HashMap<>();
        for (Nvfp4StaticCheck.TensorReport t : r.tensors()) groupMax.merge(Nvfp4StaticCheck.group(t.name()), t.maxScale(), Math::max);
        assertThat(groupMax.values()).containsOnly(448.0);
        assertThat(r.problems()).noneMatch(p -> p.what().contains("not near 448"));
        // q/k/v and gate/up share their scale, so no fused-shard warning; the upstream split is noted as overflowing
        assertThat(r.problems()).noneMatch(p -> p.what().contains("fused shards"));
        assertThat(r.problems()).anyMatch(p -> p.what().contains("convert_hf_to_gguf.py's split would run"));
    }

    @Test
    void aNanBlockScaleFails() throws IOException {
        Path bad = Nvfp4Faults.copy(good, tmp.resolve("nan"));
        Nvfp4Faults.nanBlockScale(bad, "model.layers.0.self_attn.v_proj", 5);
        Nvfp4StaticCheck.Report r = check(bad);
        assertThat(failures(r)).anyMatch(p -> p.tensor().equals("blk.0.attn_v.weight") && p.what().contains("1 block scales are NaN"));
        assertThat(failures(r)).anyMatch(p -> p.tensor().equals("blk.0.attn_v.weight") && p.what().contains("not finite"));
    }

    @Test
    void swappedNibblesFailAgainstTheReference() throws IOException {
        Path bad = Nvfp4Faults.copy(good, tmp.resolve("swap"));
        Nvfp4Faults.swapNibbles(bad, "model.layers.1.mlp.up_proj.weight");
        Nvfp4StaticCheck.Report r = check(bad);
        assertThat(failures(r)).extracting(Nvfp4StaticCheck.Problem::tensor).containsOnly("blk.1.ffn_up.weight");
        assertThat(failures(r)).anyMatch(p -> p.what().contains("relative L2"));
    }

    @Test
    void aWrongGlobalScaleFailsAgainstTheReferenceAndBreaksTheFusedGroup() throws IOException {
        Path bad = Nvfp4Faults.copy(good, tmp.resolve("global"));
        Nvfp4Faults.scaleScalar(bad, "model.layers.0.self_attn.k_proj.weight_scale_2", 16f);
        Nvfp4StaticCheck.Report r = check(bad);
        assertThat(failures(r)).anyMatch(p -> p.tensor().equals("blk.0.attn_k.weight") && p.what().contains("relative L2"));
        assertThat(r.problems()).anyMatch(p -> p.level() == Nvfp4StaticCheck.Level.WARN && p.tensor().equals("blk.0.attn_qkv") && p.what().contains("fused shards"));
    }

    @Test
    void anOverflowingScaleSplitInAGgufFailsAndRequantsSplitPasses() throws IOException {
        Path upstream = tmp.resolve("upstream.gguf"), ours = tmp.resolve("ours.gguf");
        try (ConversionPlan p = GemmaPlanner.plan(good, ConversionSettings.auto().withNvfp4(new ConversionSettings.Nvfp4Options(null, true)))) {
            GgufConversion.write(p, upstream, null);
        }
        try (ConversionPlan p = GemmaPlanner.plan(good, ConversionSettings.auto())) {
            GgufConversion.write(p, ours, null);
        }
        try (GgufModelSource up = GgufModelSource.open(upstream); GgufModelSource ok = GgufModelSource.open(ours); ModelSource ref = HfModelSource.open(bf16)) {
            Nvfp4StaticCheck.Report bad = Nvfp4StaticCheck.run("gemma3", Nvfp4View.ofModel(up), ref, Nvfp4StaticCheck.Thresholds.DEFAULT);
            assertThat(failures(bad)).anyMatch(p -> p.tensor().endsWith(".ffn") && p.what().contains("past the Q8_0 limit"));
            Nvfp4StaticCheck.Report good = Nvfp4StaticCheck.run("gemma3", Nvfp4View.ofModel(ok), ref, Nvfp4StaticCheck.Thresholds.DEFAULT);
            assertThat(failures(good)).isEmpty();
            assertThat(good.tensors()).allSatisfy(t -> assertThat(t.reference().relL2()).isLessThan(0.2));
            // the gate keeps a factor llama.cpp cannot apply: reported, not failed
            assertThat(good.problems()).anyMatch(p -> p.level() == Nvfp4StaticCheck.Level.WARN && p.tensor().endsWith("ffn_gate.weight"));
        }
    }
}
