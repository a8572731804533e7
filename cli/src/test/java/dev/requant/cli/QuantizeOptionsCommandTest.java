package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.converter.ConversionPlan;
import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.manifest.GgufManifest;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.SplitGguf;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * quantize's llama-quantize options of issue 15 (--override-kv, --tensor-type-file, --prune-layers, --keep-split) and
 * its refusals of the very low-bit types, on the BF16 conversion of golden/hf/gemma3-tiny. Parity of the same options
 * with libllama: LlamaCppQuantizeInteropTest in the converter module.
 */
class QuantizeOptionsCommandTest {
    @TempDir static Path tmp;
    static Path bf16;

    @BeforeAll
    static void convert() throws Exception {
        bf16 = tmp.resolve("gemma3-tiny.bf16.gguf");
        try (ConversionPlan plan = GemmaPlanner.plan(Golden.hf("gemma3-tiny"), new ConversionSettings(FileType.BF16, "Tiny Gemma3"))) {
            GgufConversion.write(plan, bf16, null);
        }
    }

    static GgmlType typeOf(GgufFile f, String tensor) {
        return f.tensor(tensor).orElseThrow().type();
    }

    @Test
    void overrideKvWritesTypedKeysAtTheEnd() throws Exception {
        Path out = tmp.resolve("kv.gguf");
        CliRun r = CliRun.of("quantize", "--no-progress", "--override-kv", "general.name=str:Renamed", "--override-kv", "requant.n=int:-3",
                "--override-kv", "requant.x=float:1.5", "--override-kv", "requant.b=bool:true", bf16.toString(), out.toString(), "Q8_0");
        assertThat(r.code()).as(r.err()).isZero();
        try (GgufFile f = GgufFile.open(out)) {
            List<String> keys = new ArrayList<>(f.metadata().asMap().keySet());
            assertThat(keys.subList(keys.size() - 4, keys.size())).containsExactly("general.name", "requant.n", "requant.x", "requant.b");
            assertThat(f.metadata().get("general.name")).contains(GgufValue.string("Renamed"));
            assertThat(f.metadata().get("requant.n")).as("int as UINT32 of |v|").contains(GgufValue.u32(3));
            assertThat(f.metadata().get("requant.x")).contains(GgufValue.f32(1.5f));
            assertThat(f.metadata().get("requant.b")).contains(GgufValue.bool(true));
        }
        CliRun bad = CliRun.of("quantize", "--override-kv", "requant.n=int:lots", bf16.toString(), tmp.resolve("bad.gguf").toString(), "Q8_0");
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("--override-kv: invalid int value 'lots' in KV override 'requant.n=int:lots'")
                .contains("see 'requant quantize --help'");
        assertThat(tmp.resolve("bad.gguf")).doesNotExist();
    }

    @Test
    void tensorTypeFileRulesTakeTheirPlaceAmongTensorTypeOptions() throws Exception {
        Path rules = Files.writeString(tmp.resolve("rules.txt"), "attn_v=q4_0\n  ffn_down=q5_0 \n\n");
        Path first = tmp.resolve("tt1.gguf"), second = tmp.resolve("tt2.gguf");
        CliRun a = CliRun.of("quantize", "--no-progress", "--tensor-type", "ffn_down=q8_0", "--tensor-type-file", rules.toString(),
                bf16.toString(), first.toString(), "Q6_K");
        assertThat(a.code()).as(a.err()).isZero();
        CliRun b = CliRun.of("quantize", "--no-progress", "--tensor-type-file=" + rules, "--tensor-type", "ffn_down=q8_0",
                bf16.toString(), second.toString(), "Q6_K");
        assertThat(b.code()).as(b.err()).isZero();
        try (GgufFile f = GgufFile.open(first); GgufFile g = GgufFile.open(second)) {
            assertThat(typeOf(f, "blk.2.attn_v.weight")).isEqualTo(GgmlType.Q4_0);
            assertThat(typeOf(f, "blk.2.ffn_down.weight")).as("--tensor-type came first").isEqualTo(GgmlType.Q8_0);
            assertThat(typeOf(g, "blk.2.ffn_down.weight")).as("the file came first").isEqualTo(GgmlType.Q5_0);
            assertThat(typeOf(g, "blk.2.attn_q.weight")).isEqualTo(GgmlType.Q6_K);
        }
        CliRun missing = CliRun.of("quantize", "--tensor-type-file", tmp.resolve("none.txt").toString(), bf16.toString(), "Q6_K");
        assertThat(missing.code()).isEqualTo(2);
        assertThat(missing.err()).contains("--tensor-type-file: failed to open file '" + tmp.resolve("none.txt") + "': no such file");
        Path broken = Files.writeString(tmp.resolve("broken.txt"), "attn_v=q4_0 ffn_down\n");
        CliRun bad = CliRun.of("quantize", "--tensor-type-file", broken.toString(), bf16.toString(), "Q6_K");
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains(broken + ": malformed tensor type 'ffn_down'");
    }

    @Test
    void pruneLayersDropsAndRenumbersBlocks() throws Exception {
        Path out = tmp.resolve("pruned.gguf");
        CliRun r = CliRun.of("quantize", "--no-progress", "--prune-layers", "4,1,4", bf16.toString(), out.toString(), "Q8_0");
        assertThat(r.code()).as(r.err()).isZero();
        try (GgufFile in = GgufFile.open(bf16); GgufFile f = GgufFile.open(out)) {
            assertThat(f.metadata().getLong("gemma3.block_count")).contains(4L);
            List<String> keys = new ArrayList<>(f.metadata().asMap().keySet());
            assertThat(keys.getLast()).isEqualTo("gemma3.block_count");
            assertThat(f.tensors()).hasSize(in.tensors().size() - 2 * (int) in.tensors().stream().filter(t -> t.name().startsWith("blk.1.")).count());
            assertThat(f.tensors().stream().map(GgufTensorInfo::name).filter(n -> n.startsWith("blk.")).map(n -> n.substring(0, n.indexOf('.', 4))).distinct())
                    .containsExactly("blk.0", "blk.1", "blk.2", "blk.3");
            // old block 5 (the only full-attention layer of gemma3-tiny) is block 3 now, bytes unchanged
            assertThat(GgufManifest.sha256(f.tensorData(f.tensor("blk.3.attn_q.weight").orElseThrow())))
                    .isEqualTo(sha256OfQ8("blk.5.attn_q.weight"));
        }
        CliRun bad = CliRun.of("quantize", "--prune-layers", "1,x", bf16.toString(), "Q8_0");
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("--prune-layers: invalid layer id 'x'");
    }

    /** The SHA-256 of a tensor quantized to Q8_0 on its own (the pruned file must hold the same bytes under the new name). */
    static String sha256OfQ8(String tensor) throws Exception {
        Path one = tmp.resolve("q8-reference.gguf");
        if (!Files.exists(one)) {
            CliRun r = CliRun.of("quantize", "--no-progress", bf16.toString(), one.toString(), "Q8_0");
            assertThat(r.code()).as(r.err()).isZero();
        }
        try (GgufFile f = GgufFile.open(one)) {
            return GgufManifest.sha256(f.tensorData(f.tensor(tensor).orElseThrow()));
        }
    }

    @Test
    void splitInputGivesOneFileOrOneShardEachWithKeepSplit() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("split"));
        List<Path> shards = SplitGguf.split(bf16, dir.resolve("gemma3-tiny").toString(), 30);
        assertThat(shards).hasSize(3);
        Path whole = dir.resolve("whole.gguf");
        CliRun r = CliRun.of("quantize", "--no-progress", shards.getFirst().toString(), whole.toString(), "Q8_0");
        assertThat(r.code()).as(r.err()).isZero();
        String golden = new ObjectMapper().readTree(Golden.llamacpp("gemma3-tiny.mix.Q8_0.manifest.json").toFile()).get("file_sha256").asText();
        try (GgufFile f = GgufFile.open(whole)) {
            assertThat(GgufManifest.sha256(f.mapping())).as("the same file as from the unsplit input").isEqualTo(golden);
        }
        CliRun k = CliRun.of("quantize", "--no-progress", "--keep-split", shards.getFirst().toString(), dir.resolve("q8.gguf").toString(), "Q8_0");
        assertThat(k.code()).as(k.err()).isZero();
        assertThat(k.out()).contains("3 files: " + dir.resolve("q8-00001-of-00003.gguf"));
        int tensors = 0;
        for (int i = 1; i <= 3; i++) {
            try (GgufFile f = GgufFile.open(dir.resolve("q8-0000" + i + "-of-00003.gguf"))) {
                assertThat(f.metadata().getLong("split.no")).contains((long) i - 1);
                assertThat(f.metadata().getLong("split.count")).contains(3L);
                assertThat(f.metadata().getLong("split.tensors.count")).contains(80L);
                assertThat(f.metadata().get("general.architecture").isPresent()).isEqualTo(i == 1);
                tensors += f.tensors().size();
            }
        }
        assertThat(tensors).isEqualTo(80);
        CliRun second = CliRun.of("quantize", shards.get(1).toString(), dir.resolve("x.gguf").toString(), "Q8_0");
        assertThat(second.code()).isEqualTo(1);
        assertThat(second.err()).contains("is shard 2 of 3").contains("give the first shard, " + shards.getFirst());
    }

    @Test
    void veryLowBitTypesWithoutImportanceDataAreRefusedInOneLine() throws Exception {
        Path out = tmp.resolve("iq2.gguf");
        CliRun r = CliRun.of("quantize", bf16.toString(), out.toString(), "IQ2_XXS");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).isEqualTo("requant: error: " + bf16 + ": IQ2_XXS needs an importance matrix (--imatrix FILE): blk.0.attn_k.weight"
                + " would be iq2_xxs, which llama.cpp makes only with importance data\n");
        assertThat(out).doesNotExist();
        CliRun pure = CliRun.of("quantize", "--pure", "--imatrix", Golden.llamacpp("gemma3-tiny.imatrix.gguf").toString(), bf16.toString(),
                out.toString(), "IQ1_S");
        assertThat(pure.code()).isEqualTo(1);
        assertThat(pure.err()).startsWith("requant: error: ").contains("token_embd.weight: iq1_s cannot be made without importance data")
                .contains("has no entry for token_embd.weight").endsWith("with --token-embedding-type\n");
        assertThat(pure.err().lines().count()).isEqualTo(1);
        assertThat(out).doesNotExist();
    }
}
