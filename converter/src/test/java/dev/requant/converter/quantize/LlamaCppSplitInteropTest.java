package dev.requant.converter.quantize;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufModel;
import dev.requant.formats.gguf.GgufSplit;
import dev.requant.formats.gguf.GgufSplitWriter;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.manifest.GgufManifest;
import dev.requant.testmodels.LlamaCppQuantizer;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Split GGUF sets against the real llama.cpp (llama_model_quantize of node-llama-cpp's libllama, which opens its
 * input with llama_model_loader): a set written by {@link GgufSplitWriter} loads there as the model it was split from
 * (quantizing it gives the same file as quantizing the unsplit model), and the set llama.cpp itself writes with
 * --keep-split reads back through {@link GgufModel} as the same model, in shards that follow the input's.
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
                try (GgufModel m = GgufModel.open(first)) {
                    assertThat(m.shards().size()).as("%s", limit).isGreaterThanOrEqualTo(3);
                }
                Path out = tmp.resolve("ours" + n + ".q8_0.gguf");
                assertThat(llama.quantize(first, out, q8)).as("llama_model_quantize of %s", first.getFileName()).isZero();
                assertThat(fileSha(out)).as("%s, no tensor in the first split: %s", limit, noTensorFirst).isEqualTo(want);
            }
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
        try (GgufModel ours = GgufModel.open(first);
                GgufModel theirs = GgufModel.open(GgufSplit.path(prefix, 0, ours.shards().size()));
                GgufFile reference = GgufFile.open(wholeOut)) {
            assertThat(theirs.shards()).hasSameSizeAs(ours.shards());
            for (int i = 0; i < ours.shards().size(); i++) {
                assertThat(theirs.shards().get(i).tensors().stream().map(GgufTensorInfo::name).toList()).as("shard %d", i)
                        .isEqualTo(ours.shards().get(i).tensors().stream().map(GgufTensorInfo::name).toList());
            }
            assertThat(theirs.tensors()).hasSameSizeAs(reference.tensors());
            for (GgufTensorInfo t : reference.tensors()) {
                GgufTensorInfo s = theirs.tensor(t.name()).orElseThrow();
                assertThat(s.spec()).isEqualTo(t.spec());
                assertThat(theirs.tensorData(s).toArray(ValueLayout.JAVA_BYTE)).as(t.name()).isEqualTo(reference.tensorData(t).toArray(ValueLayout.JAVA_BYTE));
            }
            assertThat(theirs.metadata().getString("general.name")).isEqualTo(reference.metadata().getString("general.name"));
        }
        try (var files = Files.list(tmp)) {
            assertThat(files.filter(p -> p.getFileName().toString().startsWith("llama-split-")).count()).isGreaterThan(1);
        }
    }
}
