package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.converter.ConversionPlan;
import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.manifest.GgufManifest;
import dev.requant.testmodels.Golden;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class QuantizeCommandTest {
    @TempDir static Path tmp;
    static Path bf16;

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @BeforeAll
    static void convert() throws Exception {
        bf16 = tmp.resolve("gemma3-tiny.bf16.gguf");
        try (ConversionPlan plan = GemmaPlanner.plan(Golden.hf("gemma3-tiny"), new ConversionSettings(FileType.BF16, "Tiny Gemma3"))) {
            GgufConversion.write(plan, bf16, null);
        }
    }

    static String golden(String manifest) throws Exception {
        return new ObjectMapper().readTree(Golden.llamacpp("gemma3-tiny." + manifest + ".manifest.json").toFile()).get("file_sha256").asText();
    }

    @Test
    void quantizesLikeLlamaQuantize() throws Exception {
        Path out = tmp.resolve("q4_0.gguf");
        Run r = run("quantize", "--pure", bf16.toString(), out.toString(), "q4_0", "2");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("Q4_0, 80 tensors (43 quantized, 37 copied)");
        try (GgufFile f = GgufFile.open(out)) {
            assertThat(GgufManifest.sha256(f.mapping())).isEqualTo(golden("pure.Q4_0"));
        }
        Path mix = tmp.resolve("q8_0.gguf");
        assertThat(run("quantize", bf16.toString(), mix.toString(), "Q8_0", "--threads", "1", "--no-progress").code()).isZero();
        try (GgufFile f = GgufFile.open(mix)) {
            assertThat(GgufManifest.sha256(f.mapping())).isEqualTo(golden("mix.Q8_0"));
        }
    }

    @Test
    void imatrixIsRecordedAsGiven() throws Exception {
        Path out = tmp.resolve("imat.gguf");
        String im = Golden.llamacpp("gemma3-tiny.imatrix.gguf").toString();
        Run r = run("quantize", "--imatrix", im, "--exclude-weights", "ffn_", bf16.toString(), out.toString(), "Q4_K_M");
        assertThat(r.code()).as(r.err()).isZero();
        try (GgufFile f = GgufFile.open(out)) {
            assertThat(f.metadata().getString("quantize.imatrix.file")).contains(im.length() > 127 ? im.substring(0, 127) : im);
            assertThat(f.metadata().getLong("quantize.imatrix.entries_count")).contains(24L); // 42 entries minus 18 ffn_*
            assertThat(f.metadata().getLong("quantize.imatrix.chunks_count")).contains(40L);
        }
    }

    @Test
    void dryRunPrintsThePlanAndWritesNothing() {
        Run r = run("quantize", "--dry-run", bf16.toString(), "Q4_K_S");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("-> Q4_K_S (general.file_type 14), arch gemma3, 6 layers, 80 tensors")
                .containsPattern("token_embd\\.weight +256 x 1024 +bf16 +q6_K +tied token_embd \\(as output\\): q6_K")
                .containsPattern("blk\\.0\\.attn_v\\.weight +256 x 128 +bf16 +q5_K +attn_v: first 4 \\(0\\): q5_K")
                .containsPattern("blk\\.4\\.attn_v\\.weight +256 x 128 +bf16 +q4_K +Q4_K_S default")
                .containsPattern("blk\\.0\\.attn_norm\\.weight +256 +f32 +f32 +kept: 1-D")
                .contains("model size = 11.78 MiB (16.02 BPW)")
                .contains("tensors per type: f32: 37, q4_K: 38, q5_K: 4, q6_K: 1");
        assertThat(tmp.resolve("ggml-model-Q4_K_S.gguf")).doesNotExist();
    }

    @Test
    void outputNameDefaultsToLlamaQuantizesAndUsageErrorsExitTwo() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("default"));
        Path in = Files.copy(bf16, dir.resolve("in.gguf"));
        Run ok = run("quantize", in.toString(), "q8_0");
        assertThat(ok.code()).as(ok.err()).isZero();
        assertThat(dir.resolve("ggml-model-Q8_0.gguf")).exists();
        assertThat(run("quantize", in.toString(), "out.gguf", "Q3_X").code()).isEqualTo(2);
        assertThat(run("quantize", "--include-weights", "a", "--exclude-weights", "b", in.toString(), "o.gguf", "Q8_0").code()).isEqualTo(2);
        assertThat(run("quantize", "--tensor-type", "attn_v", in.toString(), "o.gguf", "Q8_0").code()).isEqualTo(2);
        Run same = run("quantize", in.toString(), in.toString(), "Q8_0");
        assertThat(same.code()).isEqualTo(1);
        assertThat(same.err()).contains(in + ": is also an input");
        Run missing = run("quantize", dir.resolve("nope.gguf").toString(), "o.gguf", "Q8_0");
        assertThat(missing.code()).isEqualTo(1);
        assertThat(missing.err()).contains("nope.gguf: no such file").doesNotContain("Exception");
    }

    @Test
    void exhaustiveSearchKeepsTheLayoutAndChangesBlocks() throws Exception {
        Path def = tmp.resolve("k.default.gguf"), ex = tmp.resolve("k.exhaustive.gguf");
        assertThat(run("quantize", bf16.toString(), def.toString(), "Q4_K_M", "2").code()).isZero();
        Run r = run("quantize", "--search", "exhaustive", bf16.toString(), ex.toString(), "Q4_K_M", "2");
        assertThat(r.code()).as(r.err()).isZero();
        try (GgufFile a = GgufFile.open(def); GgufFile b = GgufFile.open(ex)) {
            assertThat(b.metadata()).isEqualTo(a.metadata());
            assertThat(b.tensors()).isEqualTo(a.tensors());
            int differ = 0;
            for (var t : a.tensors()) {
                if (!GgufManifest.sha256(a.tensorData(t)).equals(GgufManifest.sha256(b.tensorData(b.tensor(t.name()).orElseThrow())))) differ++;
            }
            assertThat(differ).as("every quantized tensor has blocks the search improved").isEqualTo(43);
        }
        assertThat(run("quantize", "--search", "fast", bf16.toString(), ex.toString(), "Q4_K_M").code()).isEqualTo(2);
    }
}
