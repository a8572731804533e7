package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufShards;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.manifest.GgufManifest;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.LlamaCppGgufSplit;
import dev.requant.testmodels.LlamaCppQuantizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * convert and quantize with --split-max-size / --split-max-tensors on golden/hf/gemma3-tiny: the shards are byte for
 * byte what llama.cpp's gguf-split makes of the unsplit output ({@link LlamaCppGgufSplit}), llama.cpp loads them as
 * that model (llama_model_quantize of the set gives the golden Q8_0 file), requant reads them back to the same tensors
 * and metadata (less split.*), and bad values are usage errors that write nothing.
 */
class SplitOutputCommandTest {
    @TempDir Path tmp;

    static String sha(Path p) throws IOException {
        try (GgufFile f = GgufFile.open(p)) {
            return GgufManifest.sha256(f.mapping());
        }
    }

    /** The shards beside {@code first} ({@code NAME-00001-of-0000N.gguf}), in order. */
    static List<Path> shards(Path first) throws IOException {
        String name = first.getFileName().toString();
        int n = Integer.parseInt(name.substring(name.length() - 10, name.length() - 5));
        String prefix = name.substring(0, name.length() - "-00001-of-00000.gguf".length());
        List<Path> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(first.resolveSibling(String.format("%s-%05d-of-%05d.gguf", prefix, i + 1, n)));
        return out;
    }

    /** Each shard of ours equals gguf-split's shard of {@code unsplit} with the same limit. */
    static void assertGgufSplitOf(Path unsplit, Path ourFirst, long maxBytes, int maxTensors) throws IOException {
        List<Path> ours = shards(ourFirst);
        List<Path> theirs = LlamaCppGgufSplit.forTests().split(unsplit, unsplit.resolveSibling("gguf-split").toString(), maxBytes, maxTensors, false);
        assertThat(ours).hasSameSizeAs(theirs);
        for (int i = 0; i < ours.size(); i++) assertThat(sha(ours.get(i))).as(ours.get(i).getFileName().toString()).isEqualTo(sha(theirs.get(i)));
    }

    /** requant reads the set back as the unsplit file: tensors (specs and bytes) and metadata less split.*. */
    static void assertSameModel(Path unsplit, Path first) throws IOException {
        try (GgufShards split = GgufShards.open(first); GgufFile one = GgufFile.open(unsplit)) {
            assertThat(split.count()).isGreaterThan(1);
            assertThat(split.tensors()).hasSameSizeAs(one.tensors());
            for (int i = 0; i < one.tensors().size(); i++) {
                GgufShards.Tensor t = split.tensors().get(i);
                assertThat(t.info().spec()).isEqualTo(one.tensors().get(i).spec());
                assertThat(split.data(t).mismatch(one.tensorData(one.tensors().get(i)))).as(t.name()).isEqualTo(-1L);
            }
            var keys = new LinkedHashMap<>(split.metadata().asMap());
            keys.keySet().removeIf(k -> k.startsWith("split."));
            assertThat(keys).isEqualTo(one.metadata().asMap());
        }
    }

    @Test
    void convertWritesGgufSplitsShardsThatLlamaCppLoads() throws Exception {
        Path whole = tmp.resolve("whole.gguf");
        String hf = Golden.hf("gemma3-tiny").toString();
        CliRun a = CliRun.of("convert", hf, "-o", whole.toString(), "--type", "bf16", "--model-name", "Tiny Gemma3", "--no-progress");
        assertThat(a.code()).as(a.err()).isZero();
        CliRun b = CliRun.of("convert", hf, "-o", tmp.resolve("tiny.gguf").toString(), "--type", "bf16", "--model-name", "Tiny Gemma3",
                "--no-progress", "--split-max-tensors", "30");
        assertThat(b.code()).as(b.err()).isZero();
        Path first = tmp.resolve("tiny-00001-of-00003.gguf");
        assertThat(b.out()).contains("3 files: " + first);
        assertThat(tmp.resolve("tiny.gguf")).doesNotExist();
        assertGgufSplitOf(whole, first, 0, 30);
        assertSameModel(whole, first);

        // llama.cpp's loader reads the set as the model: its Q8_0 of it is the golden llama-quantize output
        Path q8 = tmp.resolve("q8.gguf");
        LlamaCppQuantizer llama = LlamaCppQuantizer.forTests();
        assertThat(llama.quantize(first, q8, LlamaCppQuantizer.Params.of(7, 2))).isZero();
        String golden = new ObjectMapper().readTree(Golden.llamacpp("gemma3-tiny.mix.Q8_0.manifest.json").toFile()).get("file_sha256").asText();
        assertThat(sha(q8)).isEqualTo(golden);
    }

    /** Q4_0 with the QAT policy: the lattice statistics filled in after the tensors land in the first shard. */
    @Test
    void convertBySizeFillsInTheFirstShardsHeader() throws Exception {
        String hf = Golden.hf("gemma3-tiny").toString();
        Path whole = tmp.resolve("q4.gguf");
        CliRun a = CliRun.of("convert", hf, "-o", whole.toString(), "--type", "q4_0", "--no-progress");
        assertThat(a.code()).as(a.err()).isZero();
        CliRun b = CliRun.of("convert", hf, "-o", tmp.resolve("q4s").toString(), "--type", "q4_0", "--no-progress", "--split-max-size", "1M");
        assertThat(b.code()).as(b.err()).isZero();
        Path first;
        try (Stream<Path> s = Files.list(tmp)) {
            first = s.filter(p -> p.getFileName().toString().matches("q4s-00001-of-\\d{5}\\.gguf")).findFirst().orElseThrow();
        }
        assertGgufSplitOf(whole, first, 1_000_000, 0);
        assertSameModel(whole, first);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"--split-max-size, 1M, 1000000, 0", "--split-max-tensors, 25, 0, 25"})
    void quantizeWritesGgufSplitsShardsOfItsOutput(String flag, String value, long maxBytes, int maxTensors) throws Exception {
        Path bf16 = tmp.resolve("bf16.gguf");
        CliRun c = CliRun.of("convert", Golden.hf("gemma3-tiny").toString(), "-o", bf16.toString(), "--type", "bf16", "--no-progress");
        assertThat(c.code()).as(c.err()).isZero();
        Path whole = tmp.resolve("q6.gguf");
        CliRun a = CliRun.of("quantize", "--no-progress", bf16.toString(), whole.toString(), "Q6_K", "2");
        assertThat(a.code()).as(a.err()).isZero();
        // --dry-run prints the shards (paths, tensor counts) and writes nothing; the run then writes exactly those
        CliRun dry = CliRun.of("quantize", "--no-progress", "--dry-run", flag, value, bf16.toString(), tmp.resolve("q6s.gguf").toString(), "Q6_K", "2");
        assertThat(dry.code()).as(dry.err()).isZero();
        try (Stream<Path> s = Files.list(tmp)) {
            assertThat(s.filter(p -> p.getFileName().toString().startsWith("q6s"))).isEmpty();
        }
        CliRun b = CliRun.of("quantize", "--no-progress", flag, value, bf16.toString(), tmp.resolve("q6s.gguf").toString(), "Q6_K", "2");
        assertThat(b.code()).as(b.err()).isZero();
        Path first;
        try (Stream<Path> s = Files.list(tmp)) {
            first = s.filter(p -> p.getFileName().toString().matches("q6s-00001-of-\\d{5}\\.gguf")).findFirst().orElseThrow();
        }
        assertThat(b.out()).contains("files: " + first);
        List<Path> written = shards(first);
        assertThat(dry.out()).contains(written.size() + " files (");
        for (Path shard : written) {
            try (dev.requant.formats.gguf.GgufFile g = dev.requant.formats.gguf.GgufFile.open(shard)) {
                assertThat(dry.out()).containsPattern(java.util.regex.Pattern.quote(shard.toString()) + "\\s+" + g.tensors().size() + "\\s");
            }
        }
        assertGgufSplitOf(whole, first, maxBytes, maxTensors);
        assertSameModel(whole, first);

        // every reader takes the first shard for the whole model: eval sees the unsplit file's logits exactly
        Path text = tmp.resolve("text.txt");
        Files.writeString(text, Files.readString(Golden.text("calibration.txt")).substring(0, 4000));
        CliRun e = CliRun.of("eval", "--base", whole.toString(), "-m", first.toString(), "-f", text.toString(), "-c", "64",
                "--chunks", "2", "--device", "cpu", "--threads", "2", "--no-progress");
        assertThat(e.code()).as(e.err()).isZero();
        assertThat(e.out()).containsPattern("q6s-00001-of-\\d{5}\\.gguf\\s+\\S+ ± \\S+\\s+0\\.00000 ± 0\\.00000\\s+0\\.000000 ± 0\\.000000");
        // export writes the same folder as from the unsplit file (all tensors, not the first shard's)
        CliRun x1 = CliRun.of("export", first.toString(), "-o", tmp.resolve("hf-split").toString());
        CliRun x2 = CliRun.of("export", whole.toString(), "-o", tmp.resolve("hf-whole").toString());
        assertThat(x1.code()).as(x1.err()).isZero();
        assertThat(x2.code()).as(x2.err()).isZero();
        try (Stream<Path> sa = Files.list(tmp.resolve("hf-split")); Stream<Path> sb = Files.list(tmp.resolve("hf-whole"))) {
            assertThat(sa.map(p -> p.getFileName().toString()).sorted().toList()).isEqualTo(sb.map(p -> p.getFileName().toString()).sorted().toList());
        }
        try (Stream<Path> sa = Files.list(tmp.resolve("hf-split"))) {
            for (Path f : sa.filter(p -> p.toString().endsWith(".safetensors")).toList()) {
                assertThat(Files.mismatch(f, tmp.resolve("hf-whole").resolve(f.getFileName()))).as("%s", f.getFileName()).isEqualTo(-1L);
            }
        }
        // a later shard alone is refused, naming the first; inspect says what the file is
        CliRun later = CliRun.of("eval", "-m", shards(first).get(1).toString(), "-f", text.toString(), "--device", "cpu", "--no-progress");
        assertThat(later.code()).isNotZero();
        assertThat(later.err()).contains("is shard 2 of").contains("give the first shard, " + first);
        CliRun ins = CliRun.of("inspect", shards(first).get(1).toString());
        assertThat(ins.code()).as(ins.err()).isZero();
        assertThat(ins.out()).containsPattern("shard 2 of \\d+ of a split model: \\d+ of its \\d+ tensors are in this file");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "--split-max-size 0M | --split-max-size: split size '0M' must be positive",
        "--split-max-size -5G | --split-max-size: split size '-5G' must be positive",
        "--split-max-size 50 | --split-max-size: split size '50': give a whole number with M (megabytes) or G (gigabytes), e.g. 50G",
        "--split-max-size 1.5G | --split-max-size: split size '1.5G': give a whole number",
        "--split-max-size lotsG | --split-max-size: split size 'lotsG': give a whole number",
        "--split-max-size 50GB | --split-max-size: split size '50GB': give a whole number",
        "--split-max-tensors 0 | --split-max-tensors: must be at least 1, got 0",
        "--split-max-tensors -3 | --split-max-tensors: must be at least 1, got -3",
        "--split-max-tensors many | --split-max-tensors: 'many' is not a whole number",
        "--split-max-tensors 5 --split-max-size 1G | either --split-max-size or --split-max-tensors can be given, not both",
    })
    void badSplitValuesAreUsageErrors(String options, String message) throws Exception {
        Path out = tmp.resolve("bad.gguf");
        List<String> q = new ArrayList<>(List.of("quantize", "--no-progress"));
        q.addAll(List.of(options.trim().split(" ")));
        q.addAll(List.of(Golden.llamacpp("gemma3-tiny.mix.Q8_0.manifest.json").toString(), out.toString(), "Q8_0"));
        CliRun r = CliRun.of(q.toArray(String[]::new));
        assertThat(r.code()).as(r.err()).isEqualTo(2);
        assertThat(r.err()).contains(message.trim()).contains("see 'requant quantize --help'");
        List<String> c = new ArrayList<>(List.of("convert", Golden.hf("gemma3-tiny").toString(), "-o", out.toString(), "--no-progress"));
        c.addAll(List.of(options.trim().split(" ")));
        CliRun r2 = CliRun.of(c.toArray(String[]::new));
        assertThat(r2.code()).as(r2.err()).isEqualTo(2);
        assertThat(r2.err()).contains(message.trim());
        try (Stream<Path> s = Files.list(tmp)) {
            assertThat(s.toList()).as("nothing written").isEmpty();
        }
    }

    @Test
    void keepSplitAndASplitLimitCannotBeCombined() throws Exception {
        CliRun r = CliRun.of("quantize", "--keep-split", "--split-max-tensors", "5", Golden.llamacpp("gemma3-tiny.mix.Q8_0.manifest.json").toString(),
                tmp.resolve("x.gguf").toString(), "Q8_0");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--keep-split keeps the input's shards; it cannot be used with --split-max-size or --split-max-tensors");
    }

    /**
     * gguf-split's "one of splits have 0 tensors": the first tensor alone over the size limit. convert writes
     * token_embd first, at F32 1,048,576 bytes, over 1M. quantize writes output_norm first (llama.cpp's order), so there
     * token_embd as F32 gets a shard of its own instead.
     */
    @Test
    void aSizeLimitBelowTheFirstTensorIsRefusedAndWritesNothing() throws Exception {
        CliRun r = CliRun.of("convert", Golden.hf("gemma3-tiny").toString(), "-o", tmp.resolve("big.gguf").toString(), "--type", "f32",
                "--no-progress", "--split-max-size", "1M");
        assertThat(r.code()).as(r.out()).isEqualTo(1);
        assertThat(r.err()).contains(tmp.resolve("big.gguf") + ": cannot split: tensor 'token_embd.weight' (1048576 bytes) does not fit in a "
                + "shard of 1000000 bytes of tensors per shard; a shard would have no tensors");
        try (Stream<Path> s = Files.list(tmp)) {
            assertThat(s.toList()).as("nothing written").isEmpty();
        }
        Path bf16 = tmp.resolve("bf16.gguf");
        CliRun c = CliRun.of("convert", Golden.hf("gemma3-tiny").toString(), "-o", bf16.toString(), "--type", "bf16", "--no-progress");
        assertThat(c.code()).as(c.err()).isZero();
        CliRun ok = CliRun.of("quantize", "--no-progress", "--split-max-size", "1M", "--token-embedding-type", "f32", bf16.toString(),
                tmp.resolve("ok.gguf").toString(), "Q8_0");
        assertThat(ok.code()).as(ok.err()).isZero();
        try (GgufFile first = GgufFile.open(tmp.resolve("ok-00001-of-00010.gguf"));
                GgufFile second = GgufFile.open(tmp.resolve("ok-00002-of-00010.gguf"))) {
            assertThat(first.tensors().stream().map(GgufTensorInfo::name).toList()).containsExactly("output_norm.weight");
            assertThat(second.tensors().stream().map(GgufTensorInfo::name).toList()).containsExactly("token_embd.weight");
        }
    }
}
