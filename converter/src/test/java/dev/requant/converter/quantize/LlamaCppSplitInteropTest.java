package dev.requant.converter.quantize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufShards;
import dev.requant.formats.gguf.GgufSplit;
import dev.requant.formats.gguf.GgufSplitWriter;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.manifest.GgufManifest;
import dev.requant.testmodels.LlamaCppGgufSplit;
import dev.requant.testmodels.LlamaCppQuantizer;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufShards;
import java.util.ArrayList;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Split GGUF sets against the real llama.cpp (llama_model_quantize of node-llama-cpp's libllama, which opens its
 * input with llama_model_loader): a set written by {@link GgufSplitWriter} loads there as the model it was split from
 * (quantizing it gives the same file as quantizing the unsplit model) and is byte for byte the set gguf-split writes
 * ({@link LlamaCppGgufSplit}: gguf-split's steps on ggml's own gguf code); quantize's --split-max-size /
 * --split-max-tensors output is gguf-split's split of the unsplit output; and the set llama.cpp itself writes with
 * --keep-split reads back through {@link GgufShards} as the same model, in shards that follow the input's.
 */
class LlamaCppSplitInteropTest {
    @TempDir static Path tmp;
    static LlamaCppQuantizer llama;
    static Path whole;

    @BeforeAll
    static void model() throws IOException {
        llama = LlamaCppQuantizer.forTests();
        whole = SyntheticLlama.wide8().write(tmp);
    }

    /** Writes {@code whole} as a split set under {@code prefix}; returns the first shard. */
    static Path split(Path prefix, GgufSplitWriter.Limit limit, boolean noTensorFirstSplit) throws IOException {
        try (GgufFile in = GgufFile.open(whole)) {
            List<GgufTensorSpec> specs = in.tensors().stream().map(GgufTensorInfo::spec).toList();
            try (GgufSplitWriter w = GgufSplitWriter.create(prefix, in.metadata(), specs, limit, noTensorFirstSplit)) {
                for (GgufTensorInfo t : in.tensors()) w.writeTensor(t.name(), in.tensorData(t));
                w.commit();
                return w.paths().getFirst();
            }
        }
    }

    static String fileSha(Path p) throws IOException {
        try (GgufFile f = GgufFile.open(p)) {
            return GgufManifest.sha256(f.mapping());
        }
    }

    @Test
    void llamaCppLoadsOurSplitSetsAsTheWholeModel() throws IOException {
        LlamaCppQuantizer.Params q8 = LlamaCppQuantizer.Params.of(7, 2);
        Path fromWhole = tmp.resolve("whole.q8_0.gguf");
        assertThat(llama.quantize(whole, fromWhole, q8)).isZero();
        String want = fileSha(fromWhole);
        int n = 0;
        for (var limit : List.of(GgufSplitWriter.Limit.tensors(20), GgufSplitWriter.Limit.bytes(1_000_000))) {
            for (boolean noTensorFirst : new boolean[] {false, true}) {
                Path first = split(tmp.resolve("ours" + n++), limit, noTensorFirst);
                try (GgufShards m = GgufShards.open(first)) {
                    assertThat(m.files().size()).as("%s", limit).isGreaterThanOrEqualTo(3);
                }
                Path out = tmp.resolve("ours" + n + ".q8_0.gguf");
                assertThat(llama.quantize(first, out, q8)).as("llama_model_quantize of %s", first.getFileName()).isZero();
                assertThat(fileSha(out)).as("%s, no tensor in the first split: %s", limit, noTensorFirst).isEqualTo(want);
            }
        }
    }

    static List<String> fileShas(List<Path> files) throws IOException {
        List<String> out = new ArrayList<>();
        for (Path p : files) out.add(p.getFileName() + " " + fileSha(p));
        return out;
    }

    static GgufSplitWriter.Limit limit(long maxBytes, int maxTensors) {
        return maxBytes > 0 ? GgufSplitWriter.Limit.bytes(maxBytes) : GgufSplitWriter.Limit.tensors(maxTensors);
    }

    /** gguf-split --split-max-size / --split-max-tensors [--no-tensor-first-split]: the same files, byte for byte. */
    @ParameterizedTest(name = "max bytes {0}, max tensors {1}, no tensor in the first {2}: {3} shards")
    @CsvSource({"0, 20, false, 4", "0, 20, true, 5", "0, 7, false, 11", "0, 1000, false, 1", "1000000, 0, false, 11",
            "1000000, 0, true, 12", "2500000, 0, false, 4", "100000000, 0, false, 1"})
    void ourSplitSetsAreGgufSplitsBytes(long maxBytes, int maxTensors, boolean noTensorFirst, int shards) throws IOException {
        String label = "gs-" + maxBytes + "-" + maxTensors + "-" + noTensorFirst;
        List<Path> theirs = LlamaCppGgufSplit.forTests().split(whole, tmp.resolve(label + "-llama").toString(), maxBytes, maxTensors, noTensorFirst);
        Path first = split(tmp.resolve(label + "-ours"), limit(maxBytes, maxTensors), noTensorFirst);
        List<Path> ours = new ArrayList<>();
        for (int i = 0; i < theirs.size(); i++) ours.add(GgufSplit.path(tmp.resolve(label + "-ours"), i, theirs.size()));
        assertThat(ours.getFirst()).isEqualTo(first);
        assertThat(fileShas(ours)).isEqualTo(fileShas(theirs).stream().map(s -> s.replace("-llama-", "-ours-")).toList());
        assertThat(theirs).hasSize(shards);
    }

    @Test
    void aFirstTensorOverTheSizeLimitIsRefusedAsGgufSplitRefusesIt() {
        assertThatThrownBy(() -> LlamaCppGgufSplit.forTests().split(whole, tmp.resolve("tiny-llama").toString(), 1000, 0, false))
                .hasMessageContaining("one of splits have 0 tensors");
        assertThatThrownBy(() -> split(tmp.resolve("tiny-ours"), GgufSplitWriter.Limit.bytes(1000), false))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("a shard would have no tensors");
        try (var files = Files.list(tmp)) {
            assertThat(files.filter(p -> p.getFileName().toString().startsWith("tiny-ours"))).as("no shard left behind").isEmpty();
        }
        catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * quantize with a split limit writes what gguf-split makes of the unsplit output; llama.cpp loads it as that
     * output, and requant reads it back to the same tensors and metadata (less split.*).
     */
    @ParameterizedTest(name = "max bytes {0}, max tensors {1}")
    @CsvSource({"0, 16", "200000, 0"})
    void quantizeWithASplitLimitWritesGgufSplitsSplitOfTheOutput(long maxBytes, int maxTensors) throws IOException {
        QuantizeSettings s = QuantizeSettings.of(FileType.Q4_K_M).withThreads(2);
        String label = "qs-" + maxBytes + "-" + maxTensors;
        Path unsplit = tmp.resolve(label + ".gguf");
        Path out = tmp.resolve(label + "-split.gguf");
        List<Path> ours;
        try (GgufShards in = GgufShards.open(whole)) {
            QuantizePlan plan = QuantizePlanner.plan(in, s);
            GgufQuantizer.write(plan, unsplit, GgufQuantizer.Progress.NONE);
            GgufQuantizer.write(plan, out, limit(maxBytes, maxTensors), GgufQuantizer.Progress.NONE, null);
            ours = plan.outputShards(out, limit(maxBytes, maxTensors)).stream().map(QuantizePlan.OutputShard::path).toList();
        }
        assertThat(ours).hasSizeGreaterThanOrEqualTo(3);
        assertThat(ours.getFirst().getFileName().toString()).isEqualTo(String.format("%s-split-00001-of-%05d.gguf", label, ours.size()));
        List<Path> theirs = LlamaCppGgufSplit.forTests().split(unsplit, tmp.resolve(label + "-gs").toString(), maxBytes, maxTensors, false);
        assertThat(fileShas(ours)).isEqualTo(fileShas(theirs).stream().map(x -> x.replace("-gs-", "-split-")).toList());

        // llama.cpp's loader reads the set as the unsplit file: requantizing either gives the same bytes
        LlamaCppQuantizer.Params q8 = new LlamaCppQuantizer.Params(7, 2, false, true, LlamaCppQuantizer.TYPE_UNSET, LlamaCppQuantizer.TYPE_UNSET,
                true, List.of(), java.util.Map.of(), List.of(), false);
        Path a = tmp.resolve(label + ".a.q8.gguf"), b = tmp.resolve(label + ".b.q8.gguf");
        assertThat(llama.quantize(unsplit, a, q8)).isZero();
        assertThat(llama.quantize(ours.getFirst(), b, q8)).as("libllama loads the split set").isZero();
        assertThat(fileSha(b)).isEqualTo(fileSha(a));

        try (GgufShards split = GgufShards.open(ours.getFirst()); GgufFile one = GgufFile.open(unsplit)) {
            assertThat(split.files()).hasSameSizeAs(ours);
            assertThat(split.tensors().stream().map(t -> t.info().spec()).toList()).isEqualTo(one.tensors().stream().map(GgufTensorInfo::spec).toList());
            for (GgufTensorInfo t : one.tensors()) {
                assertThat(split.data(split.tensor(t.name()).orElseThrow()).mismatch(one.tensorData(t))).as(t.name()).isEqualTo(-1L);
            }
            var keys = new java.util.LinkedHashMap<>(split.metadata().asMap());
            keys.keySet().removeIf(k -> k.startsWith("split."));
            assertThat(keys).isEqualTo(one.metadata().asMap());
        }
    }

    @Test
    void llamaCppsOwnSplitSetReadsBackAsTheSameModel() throws IOException {
        Path first = split(tmp.resolve("input"), GgufSplitWriter.Limit.tensors(25), false);
        LlamaCppQuantizer.Params q4 = LlamaCppQuantizer.Params.of(2, 2);
        Path prefix = tmp.resolve("llama-split");
        assertThat(llama.quantize(first, prefix, q4, true)).as("llama_model_quantize --keep-split").isZero();
        Path wholeOut = tmp.resolve("llama-whole.gguf");
        assertThat(llama.quantize(whole, wholeOut, q4)).isZero();
        try (GgufShards ours = GgufShards.open(first);
                GgufShards theirs = GgufShards.open(GgufSplit.path(prefix, 0, ours.files().size()));
                GgufFile reference = GgufFile.open(wholeOut)) {
            assertThat(theirs.files()).hasSameSizeAs(ours.files());
            for (int i = 0; i < ours.files().size(); i++) {
                assertThat(theirs.files().get(i).tensors().stream().map(GgufTensorInfo::name).toList()).as("shard %d", i)
                        .isEqualTo(ours.files().get(i).tensors().stream().map(GgufTensorInfo::name).toList());
            }
            assertThat(theirs.tensors()).hasSameSizeAs(reference.tensors());
            for (GgufTensorInfo t : reference.tensors()) {
                GgufShards.Tensor s = theirs.tensor(t.name()).orElseThrow();
                assertThat(s.info().spec()).isEqualTo(t.spec());
                assertThat(theirs.data(s).toArray(ValueLayout.JAVA_BYTE)).as(t.name()).isEqualTo(reference.tensorData(t).toArray(ValueLayout.JAVA_BYTE));
            }
            assertThat(theirs.metadata().getString("general.name")).isEqualTo(reference.metadata().getString("general.name"));
        }
        try (var files = Files.list(tmp)) {
            assertThat(files.filter(p -> p.getFileName().toString().startsWith("llama-split-")).count()).isGreaterThan(1);
        }
    }
}
