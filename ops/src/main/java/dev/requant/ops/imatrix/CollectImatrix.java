package dev.requant.ops.imatrix;

import dev.requant.converter.ModelSources;
import dev.requant.cuda.ComputeDevice;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.formats.imatrix.ImatrixFormat;
import dev.requant.formats.imatrix.ImatrixReader;
import dev.requant.formats.imatrix.ImatrixWriter;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.tokenizer.LlamaVocab;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.ops.BadInputException;
import dev.requant.ops.EnvironmentException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.OutputPaths;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.GemmInputs;
import dev.requant.runtime.GpuWeights;
import dev.requant.runtime.SessionSpec;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.device.Sessions;
import dev.requant.runtime.imatrix.ChunkPlan;
import dev.requant.runtime.model.GemmaWeights;
import dev.requant.runtime.imatrix.ImatrixCollector;
import dev.requant.runtime.imatrix.ImatrixSettings;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import dev.requant.formats.io.InputFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code imatrix MODEL --text FILE}: collects an importance matrix as llama-imatrix does (llamacpp-formats.md §5),
 * on the CPU or an NVIDIA GPU, saving as it goes and resuming from a saved file.
 */
public final class CollectImatrix implements Operation<CollectImatrix.Request, CollectImatrix.Result> {
    private static final Logger LOG = LoggerFactory.getLogger(CollectImatrix.class);

    /**
     * @param format the output format, or null: dat when the name ends in .dat, else gguf
     * @param resume a saved imatrix to continue from, or null
     * @param gpuInputs how the GPU pass feeds its bf16 GEMMs
     * @param gpuWeights where the GPU pass keeps the weights (resident, streamed from host memory, or chosen by size)
     */
    public record Request(Path model, Path text, Path output, ImatrixFormat format, ImatrixSettings settings,
            ComputeDevice device, GemmInputs gpuInputs, boolean parseSpecial, Path resume, int threads, GpuWeights gpuWeights) {
        public Request {
            if (gpuWeights == null) gpuWeights = GpuWeights.AUTO;
        }

        /** With the GPU weights placed automatically. */
        public Request(Path model, Path text, Path output, ImatrixFormat format, ImatrixSettings settings,
                ComputeDevice device, GemmInputs gpuInputs, boolean parseSpecial, Path resume, int threads) {
            this(model, text, output, format, settings, device, gpuInputs, parseSpecial, resume, threads, GpuWeights.AUTO);
        }

        public Request withGpuWeights(GpuWeights g) {
            return new Request(model, text, output, format, settings, device, gpuInputs, parseSpecial, resume, threads, g);
        }

        /**
         * llama-imatrix's defaults with the device chosen automatically; a GPU pass rounds activations to bf16 once,
         * as llama.cpp does (the CLI's default too).
         */
        public static Request of(Path model, Path text, Path output) {
            return new Request(model, text, output, null, ImatrixSettings.defaults(), ComputeDevice.AUTO,
                    GemmInputs.BF16, false, null, Runtime.getRuntime().availableProcessors());
        }

        public Request withSettings(ImatrixSettings s) {
            return new Request(model, text, output, format, s, device, gpuInputs, parseSpecial, resume, threads, gpuWeights);
        }

        public Request withDevice(ComputeDevice d) {
            return new Request(model, text, output, format, settings, d, gpuInputs, parseSpecial, resume, threads, gpuWeights);
        }

        public Request withThreads(int n) {
            return new Request(model, text, output, format, settings, device, gpuInputs, parseSpecial, resume, n, gpuWeights);
        }

        public ImatrixFormat outputFormat() { return format != null ? format : ImatrixFormat.forFileName(output); }
    }

    /**
     * @param backend where it ran, e.g. "cpu" or the GPU's name
     * @param peakDeviceBytes the most GPU memory the run held, 0 on the CPU
     */
    public record Result(Path output, ImatrixFormat format, Imatrix imatrix, long tokensRun, double seconds, String backend,
            long peakDeviceBytes) {
        public double tokensPerSecond() { return seconds > 0 ? tokensRun / seconds : 0; }
    }

    @Override
    public Result run(Request r, OperationContext ctx) throws OperationException {
        if (r.threads() < 1) throw new BadInputException("--threads must be at least 1");
        if (!Files.exists(r.model())) throw new BadInputException(r.model() + ": no such file or folder");
        requireText(r.text());
        OutputPaths.checkFile(r.output(), r.model(), r.text(), r.resume());
        ImatrixFormat format = r.outputFormat();
        String dataset = r.text().toString(); // llama-imatrix records its -f argument as given
        int nCtx = r.settings().nCtx();
        try {
            ImatrixAccumulator acc = new ImatrixAccumulator(nCtx);
            int startChunk = r.resume() == null ? 0 : loadResume(r, acc, dataset);
            try (ModelSource src = ModelSources.open(r.model())) {
                Tokenizer tokenizer = Tokenizer.fromMetadata(src.metadata());
                LlamaVocab vocab = tokenizer.vocab();
                int bos = vocab.addBos() ? vocab.bos() : -1;
                long tt = System.nanoTime();
                int[] tokens = tokenizer.encode(InputFiles.readText(r.text(), "text file"), true, r.parseSpecial());
                LOG.debug("{}: {} tokens (tokenized in {} ms)", r.text(), tokens.length, (System.nanoTime() - tt) / 1_000_000);
                ChunkPlan plan;
                try {
                    plan = ChunkPlan.of(tokens.length, r.settings());
                } catch (IllegalArgumentException e) {
                    throw new BadInputException(r.text() + ": " + e.getMessage(), e);
                }
                if (startChunk > plan.chunks()) {
                    throw new BadInputException(r.resume() + " holds " + startChunk + " chunks; " + r.text() + " gives only "
                            + plan.chunks() + " with these settings");
                }
                GemmaConfig c = GemmaConfig.of(src);
                GemmaWeights w = GemmaWeights.load(src, c);
                SessionSpec spec = SessionSpec.imatrix(nCtx, r.settings().nSeq(), acc, r.settings().processOutput(), r.gpuInputs())
                        .withGpuWeights(r.gpuWeights());
                try (CpuThreads pool = new CpuThreads(r.threads()); ForwardSession backend = open(r, c, w, spec, pool, ctx)) {
                    long total = (long) (plan.chunks() - startChunk) * nCtx;
                    ctx.progress().begin("imatrix", Math.max(1, total), "tok");
                    long[] done = {0};
                    ImatrixCollector.Result res = ImatrixCollector.run(tokens, bos, plan, backend, startChunk, dataset,
                            (im, at) -> save(r, im, at, format),
                            (chunk, all, n, sec) -> {
                                ctx.checkCancelled();
                                done[0] += n;
                                ctx.progress().stepTo(done[0]);
                                ctx.progress().message("chunk " + chunk + "/" + all);
                            });
                    ctx.progress().end();
                    return new Result(r.output(), format, res.imatrix(), res.tokensRun(), res.seconds(), backend.description(),
                            backend.peakDeviceBytes());
                }
            }
        } catch (Exception e) {
            throw OperationException.of(e);
        }
    }

    private static ForwardSession open(Request r, GemmaConfig c, GemmaWeights w, SessionSpec spec, CpuThreads pool, OperationContext ctx)
            throws EnvironmentException {
        try {
            return Sessions.open(r.device(), c, w, spec, pool, ctx::notice);
        } catch (CudaUnavailableException e) {
            throw new EnvironmentException("--device cuda: " + e.getMessage(), e);
        }
    }

    /** Loads a saved imatrix to continue: its sums, counts and earlier datasets; returns the chunks it holds. */
    private static int loadResume(Request r, ImatrixAccumulator acc, String dataset) throws IOException, BadInputException {
        Imatrix im = ImatrixReader.read(r.resume());
        if (im.legacy()) {
            throw new BadInputException(r.resume() + ": --resume needs a GGUF imatrix (a .dat file keeps neither raw sums nor the chunk size)");
        }
        if (im.chunkSize() != r.settings().nCtx()) {
            throw new BadInputException(r.resume() + ": chunk size " + im.chunkSize() + " differs from -c " + r.settings().nCtx());
        }
        List<String> ds = new ArrayList<>(im.datasets());
        // the interrupted run recorded this text as its last dataset; the continued run appends it again
        if (!ds.isEmpty() && ds.getLast().equals(dataset)) ds.removeLast();
        try {
            acc.load(new Imatrix(im.entries(), ds, im.chunkCount(), im.chunkSize(), im.format(), false, im.hasMetadata()));
        } catch (IllegalArgumentException e) {
            throw new BadInputException(r.resume() + ": " + e.getMessage(), e);
        }
        LOG.debug("{}: resuming with {} chunks already collected", r.resume(), im.chunkCount());
        return im.chunkCount();
    }

    private static void save(Request r, Imatrix im, int atChunk, ImatrixFormat fmt) throws IOException {
        Path target = atChunk == 0 ? r.output() : r.output().resolveSibling(r.output().getFileName() + ".at_" + atChunk);
        ImatrixWriter.write(target, im, fmt); // an IllegalArgumentException (what the format cannot hold) is bad input
    }

    /** A text input that is a regular file (not missing, not a FIFO that would hang the read). */
    private static void requireText(Path text) throws OperationException {
        try {
            InputFiles.requireRegular(text, "text file");
        } catch (java.io.IOException e) {
            throw OperationException.of(e);
        }
    }
}
