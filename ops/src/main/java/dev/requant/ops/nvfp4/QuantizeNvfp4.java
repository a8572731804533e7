package dev.requant.ops.nvfp4;

import dev.requant.converter.ConversionSettings;
import dev.requant.converter.HfModelSource;
import dev.requant.converter.Nvfp4Export;
import dev.requant.converter.Nvfp4Recipe;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.imatrix.ImatrixFilter;
import dev.requant.formats.imatrix.ImatrixImportance;
import dev.requant.formats.imatrix.ImatrixReader;
import dev.requant.formats.nvfp4.Nvfp4Format;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.ops.BadInputException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.OutputPaths;
import dev.requant.runtime.ActivationAmax;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.cpu.CpuSession;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * {@code quantize-nvfp4}: a BF16 Gemma folder to NVFP4 with ModelOpt's math (which llama.cpp cannot do), as a ModelOpt
 * or compressed-tensors checkpoint or a GGUF; importance-weighted block scales with an imatrix, W4A4 input scales
 * calibrated on a text.
 */
public final class QuantizeNvfp4 implements Operation<QuantizeNvfp4.Request, QuantizeNvfp4.Result> {
    /**
     * @param format the checkpoint layout, or null to write a GGUF file
     * @param imatrix an imatrix for the block-scale search, or null
     * @param text calibration text for the activation scales, or null (weight-only W4A16)
     * @param nvfp4Fallback with a GGUF output: as {@code convert --nvfp4-fallback}, or null
     */
    public record Request(Path source, Path output, Nvfp4Format format, Nvfp4Recipe recipe, List<String> exclude, Path imatrix,
            Path text, int nCtx, int chunks, FileType nvfp4Fallback, int threads) {
        public Request {
            exclude = List.copyOf(exclude);
        }

        public boolean gguf() { return format == null; }
    }

    public record Result(Path output, int weights, int excluded, Nvfp4Recipe recipe, boolean imatrix, boolean calibrated,
            double seconds) {}

    @Override
    public Result run(Request r, OperationContext ctx) throws OperationException {
        if (!Files.exists(r.source())) throw new BadInputException(r.source() + ": no such folder");
        if (!Files.isDirectory(r.source())) throw new BadInputException(r.source() + ": not a folder (quantize-nvfp4 takes a Hugging Face model folder)");
        if (r.threads() < 1) throw new BadInputException("--threads must be at least 1");
        if (r.text() != null && !Files.isRegularFile(r.text())) throw new BadInputException(r.text() + ": no such text file");
        if (r.nvfp4Fallback() != null && (r.nvfp4Fallback() == FileType.Q4_0 || !r.nvfp4Fallback().convertible())) {
            throw new BadInputException("--nvfp4-fallback: choose bf16, f16, f32 or q8_0");
        }
        if (r.gguf()) OutputPaths.checkFile(r.output(), r.source(), r.imatrix(), r.text());
        else OutputPaths.checkNewFolder(r.output());
        try {
            Nvfp4Export.Selection sel = Nvfp4Export.select(r.source(), r.recipe(), r.exclude());
            if (sel.weights().isEmpty()) throw new BadInputException(r.source() + ": recipe " + r.recipe() + " with the exclusions selects no weight");
            ImatrixImportance imp = r.imatrix() == null ? null : ImatrixImportance.of(ImatrixReader.read(r.imatrix()), ImatrixFilter.ALL, r.imatrix());
            Map<String, Float> amax = r.text() == null ? Map.of() : calibrate(r, ctx);
            long start = System.nanoTime();
            Nvfp4Export.write(r.source(), r.output(), r.format(), r.gguf(), sel, imp, amax,
                    new ConversionSettings.Nvfp4Options(r.nvfp4Fallback(), false), q -> ctx.checkCancelled());
            return new Result(r.output(), sel.weights().size(), sel.excluded().size(), r.recipe(), imp != null, !amax.isEmpty(),
                    (System.nanoTime() - start) / 1e9);
        } catch (Exception e) {
            throw OperationException.of(e);
        }
    }

    /** Runs the float model over the text and records each weight's largest input magnitude. */
    private static Map<String, Float> calibrate(Request r, OperationContext ctx) throws IOException {
        ActivationAmax amax = new ActivationAmax();
        try (HfModelSource src = HfModelSource.open(r.source(), ConversionSettings.of(FileType.BF16)); CpuModel model = CpuModel.load(src, r.threads())) {
            int[] tokens = Tokenizer.fromMetadata(src.metadata()).encode(Files.readString(r.text(), StandardCharsets.UTF_8), true, false);
            CpuSession s = model.newSession(r.nCtx());
            s.setObserver(amax);
            int planned = Math.min(r.chunks(), Math.max(1, (tokens.length + r.nCtx() - 2) / r.nCtx()));
            ctx.progress().begin("calibrate", planned, "chunk");
            int done = 0;
            for (int off = 0; off + 1 < tokens.length && done < r.chunks(); off += r.nCtx(), done++) {
                ctx.checkCancelled();
                int len = Math.min(r.nCtx(), tokens.length - off);
                s.clear();
                s.decode(tokens, off, len, row -> true, (row, l, o) -> { }); // every row, as llama-imatrix: the last layer keeps only requested rows
                ctx.progress().stepTo(done + 1);
            }
            ctx.progress().end();
        }
        return amax.values();
    }
}
