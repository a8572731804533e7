package dev.requant.ops.quantize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.converter.quantize.QuantizeSettings;
import dev.requant.converter.quantize.TensorTypeOverride;
import dev.requant.converter.quantize.mix.MixOption;
import dev.requant.converter.quantize.mix.SensitivityTable;
import dev.requant.converter.quantize.mix.SizeBudget;
import dev.requant.converter.quantize.mix.TensorSensitivity;
import dev.requant.cuda.ComputeDevice;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.imatrix.ImatrixFilter;
import dev.requant.ops.BadInputException;
import dev.requant.ops.OperationContext;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.LlamaCppQuantizer;
import dev.requant.converter.quantize.ImatrixInput;
import dev.requant.formats.gguf.GgufKeys;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The mix on the golden gemma3-tiny (BF16, llama-imatrix's imatrix): the budget is met, only standard types are
 * written, the exported recipe reproduces the file byte for byte through quantize --tensor-type-file, the table is
 * reused, and a measured table's proxy ranks options as the measurement does.
 */
class QuantizeMixTest {
    @TempDir static Path dir;
    static Path bf16, text, imatrix, table;
    static final List<GgmlType> MENU = List.of(GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q8_0);

    @BeforeAll
    static void prepare() throws Exception {
        bf16 = dir.resolve("g3.bf16.gguf");
        GgufConversion.write(GemmaPlanner.plan(Golden.hf("gemma3-tiny"), ConversionSettings.of(FileType.BF16)), bf16, null);
        text = dir.resolve("calib.txt");
        Files.writeString(text, Files.readString(Golden.text("calibration.txt"), StandardCharsets.UTF_8).substring(0, 6_000));
        imatrix = Golden.llamacpp("gemma3-tiny.imatrix.gguf");
        table = dir.resolve("g3.sensitivity.json");
    }

    static QuantizeMix.Request request(Path out, SizeBudget budget) {
        return QuantizeMix.Request.of(bf16, out, budget, imatrix, text).withMenu(MENU).withCalibration(64, 2)
                .withSensitivity(table, SensitivityTable.Mode.MEASURED).withThreads(2).withDevice(ComputeDevice.CPU);
    }

    @Test
    void mixMeetsTheBudgetAndItsRecipeReproducesItByteForByte() throws Exception {
        Path out = dir.resolve("mix5.gguf"), recipe = dir.resolve("mix5.types.txt");
        QuantizeMix.Result r = new QuantizeMix().run(request(out, new SizeBudget.BitsPerWeight(5.0)).withRecipe(recipe), OperationContext.quiet());

        assertThat(r.bitsPerWeight()).isLessThanOrEqualTo(5.0).isGreaterThan(4.5);
        assertThat(r.fileBytes()).isEqualTo(Files.size(out));
        assertThat(r.kld()).isFinite().isPositive();
        assertThat(r.rows()).hasSize(r.table().tensors().size());
        try (GgufFile f = GgufFile.open(out)) {
            Set<GgmlType> standard = Set.of(GgmlType.F32, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q8_0,
                    GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_1, GgmlType.IQ4_NL);
            for (var t : f.tensors()) assertThat(standard).as(t.name()).contains(t.type());
            long tensorBytes = f.tensors().stream().mapToLong(t -> t.byteSize()).sum();
            assertThat(tensorBytes).isEqualTo(r.tensorBytes());
        }
        // a mix, not a uniform file: more than one type among the chosen tensors
        assertThat(r.rows().stream().map(QuantizeMix.Row::output).distinct().count()).isGreaterThan(1);

        // the exported recipe through plain quantize (requant's --tensor-type-file) gives the same bytes
        Path again = dir.resolve("again.gguf");
        QuantizeSettings s = QuantizeSettings.of(r.recipe().fileType()).withThreads(2).withTensorTypes(TensorTypeOverride.readFile(recipe));
        new Quantize().run(new Quantize.Request(bf16, again, s, imatrix, ImatrixFilter.ALL), OperationContext.quiet());
        assertThat(Files.mismatch(out, again)).isEqualTo(-1L);

        // a second solve reuses the table; a dry run writes nothing and plans the same mix
        Path dry = dir.resolve("dry.gguf");
        QuantizeMix.Result d = new QuantizeMix().run(request(dry, new SizeBudget.BitsPerWeight(5.0)).withDryRun(true), OperationContext.quiet());
        assertThat(d.reused()).isTrue();
        assertThat(Files.exists(dry)).isFalse();
        assertThat(d.recipe().types()).isEqualTo(r.recipe().types());
        assertThat(d.kld()).isNaN();
        assertThat(d.fileBytes()).isEqualTo(r.fileBytes());
    }

    @Test
    void llamaCppsQuantizeReproducesTheMixFromItsRecipe() throws Exception {
        LlamaCppQuantizer llama = LlamaCppQuantizer.forTests();
        Path out = dir.resolve("mix55.gguf"), recipe = dir.resolve("mix55.types.txt");
        QuantizeMix.Result r = new QuantizeMix().run(request(out, new SizeBudget.BitsPerWeight(5.5)).withRecipe(recipe), OperationContext.quiet());
        assertThat(r.bitsPerWeight()).isLessThanOrEqualTo(5.5);
        // llama-quantize --imatrix F --tensor-type-file RECIPE IN OUT FTYPE, through libllama's llama_model_quantize
        ImatrixInput im = ImatrixInput.load(imatrix, imatrix.toString(), ImatrixFilter.ALL);
        List<Map.Entry<String, Object>> kv = new ArrayList<>();
        kv.add(Map.entry(GgufKeys.Quantize.IMATRIX_FILE, im.fileAsGiven()));
        if (!im.importance().datasets().isEmpty()) kv.add(Map.entry(GgufKeys.Quantize.IMATRIX_DATASET, im.importance().datasets().getFirst()));
        kv.add(Map.entry(GgufKeys.Quantize.IMATRIX_ENTRIES_COUNT, (long) im.importance().size()));
        if (im.importance().chunkCount() > 0) kv.add(Map.entry(GgufKeys.Quantize.IMATRIX_CHUNKS_COUNT, (long) im.importance().chunkCount()));
        List<Map.Entry<String, Integer>> rules = TensorTypeOverride.readFile(recipe).stream().map(o -> Map.entry(o.pattern(), o.type().id())).toList();
        var params = new LlamaCppQuantizer.Params(r.recipe().fileType().id(), 2, false, true, LlamaCppQuantizer.TYPE_UNSET,
                LlamaCppQuantizer.TYPE_UNSET, false, rules, new LinkedHashMap<>(im.importance().values()), kv, false);
        Path theirs = dir.resolve("mix55.llama.gguf");
        assertThat(llama.quantize(bf16, theirs, params)).isZero();
        assertThat(Files.mismatch(out, theirs)).isEqualTo(-1L);
    }

    @Test
    void moreBudgetNeverCostsMoreAndAFileSizeTargetIsMet() throws Exception {
        QuantizeMix.Result low = new QuantizeMix().run(request(dir.resolve("a.gguf"), new SizeBudget.BitsPerWeight(4.6)).withDryRun(true),
                OperationContext.quiet());
        QuantizeMix.Result high = new QuantizeMix().run(request(dir.resolve("b.gguf"), new SizeBudget.BitsPerWeight(7.0)).withDryRun(true),
                OperationContext.quiet());
        assertThat(high.predictedKld()).isLessThan(low.predictedKld());
        assertThat(low.bitsPerWeight()).isLessThanOrEqualTo(4.6);
        assertThat(high.bitsPerWeight()).isLessThanOrEqualTo(7.0);

        long target = (low.fileBytes() + high.fileBytes()) / 2;
        Path out = dir.resolve("sized.gguf");
        QuantizeMix.Result sized = new QuantizeMix().run(request(out, new SizeBudget.FileBytes(target)), OperationContext.quiet());
        assertThat(Files.size(out)).isLessThanOrEqualTo(target).isGreaterThan(low.fileBytes());
    }

    @Test
    void proxyTracksTheMeasuredKld() throws Exception {
        new QuantizeMix().run(request(dir.resolve("p.gguf"), new SizeBudget.BitsPerWeight(6.0)).withDryRun(true), OperationContext.quiet());
        SensitivityTable t = SensitivityTable.read(table);
        assertThat(t.mode()).isEqualTo(SensitivityTable.Mode.MEASURED);
        assertThat(t.probe()).isEqualTo("q4_0");
        // Q8_0 on a tensor costs less than Q4_0 on it, measured through the model's output
        int lower = 0;
        for (TensorSensitivity ts : t.tensors()) if (ts.option("q8_0").kld() < ts.option("q4_0").kld()) lower++;
        assertThat(lower).isGreaterThanOrEqualTo(t.tensors().size() * 9 / 10);
        double rho = t.proxyRankCorrelation("q4_0");
        System.out.printf("gemma3-tiny: proxy vs measured KLD, Spearman rho = %.3f over %d options%n", rho,
                t.tensors().stream().mapToInt(x -> x.options().size() - 1).sum());
        assertThat(rho).isGreaterThan(0.8);
    }

    @Test
    void gemma4WithPerLayerInputs() throws Exception {
        Path g4 = dir.resolve("g4.bf16.gguf"), out = dir.resolve("g4.mix.gguf");
        GgufConversion.write(GemmaPlanner.plan(Golden.hf("gemma4-tiny"), ConversionSettings.of(FileType.BF16)), g4, null);
        QuantizeMix.Request req = QuantizeMix.Request.of(g4, out, new SizeBudget.BitsPerWeight(5.0), null, text)
                .withMenu(List.of(GgmlType.Q4_0, GgmlType.Q8_0)).withCalibration(64, 1).withThreads(2).withDevice(ComputeDevice.CPU);
        QuantizeMix.Result r = new QuantizeMix().run(req, OperationContext.quiet());
        assertThat(r.bitsPerWeight()).isLessThanOrEqualTo(5.0);
        assertThat(r.table().tensor("per_layer_token_embd.weight")).isNotNull();
        assertThat(r.table().tensor("blk.0.inp_gate.weight")).isNotNull();
        assertThat(r.kld()).isFinite().isPositive();
        assertThat(Files.exists(dir.resolve("g4.mix.gguf.sensitivity.json"))).isTrue();
    }

    @Test
    void aBudgetBelowTheSmallestMixIsOneLine() {
        assertThatThrownBy(() -> new QuantizeMix().run(request(dir.resolve("x.gguf"), new SizeBudget.BitsPerWeight(2.0)), OperationContext.quiet()))
                .isInstanceOf(BadInputException.class).hasMessageContaining("is below the smallest mix of the menu");
    }

    @Test
    void aTableOfAnotherModelIsRefused() throws Exception {
        Path other = dir.resolve("other.json");
        Files.writeString(other, new SensitivityTable("other.gguf", 64, 2, 62, 1.0, SensitivityTable.Mode.MEASURED, "q4_0",
                List.of(new TensorSensitivity("blk.0.attn_q.weight", 1, 2, List.of(new MixOption(GgmlType.Q4_0, GgmlType.Q4_0, false, 1, 0.1, 1))))).toJson());
        assertThatThrownBy(() -> new QuantizeMix().run(request(dir.resolve("y.gguf"), new SizeBudget.BitsPerWeight(5.0))
                .withSensitivity(other, SensitivityTable.Mode.MEASURED), OperationContext.quiet()))
                .isInstanceOf(BadInputException.class).hasMessageContaining("was measured for other.gguf");
        // the same file name, other tensors
        Path same = dir.resolve("same-name.json");
        Files.writeString(same, new SensitivityTable("g3.bf16.gguf", 64, 2, 62, 1.0, SensitivityTable.Mode.MEASURED, "q4_0",
                List.of(new TensorSensitivity("blk.0.attn_q.weight", 1, 2, List.of(new MixOption(GgmlType.Q4_0, GgmlType.Q4_0, false, 1, 0.1, 1))))).toJson());
        assertThatThrownBy(() -> new QuantizeMix().run(request(dir.resolve("z.gguf"), new SizeBudget.BitsPerWeight(5.0))
                .withSensitivity(same, SensitivityTable.Mode.MEASURED), OperationContext.quiet()))
                .isInstanceOf(BadInputException.class).hasMessageContaining("its tensors are not the quantized tensors of");
    }
}
