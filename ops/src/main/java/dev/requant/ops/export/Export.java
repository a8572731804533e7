package dev.requant.ops.export;

import dev.requant.converter.export.ExportSettings;
import dev.requant.converter.export.HfExport;
import dev.requant.formats.gguf.GgufShards;
import dev.requant.ops.BadInputException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.OutputPaths;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code export}: a Gemma 3 / Gemma 4 GGUF back to a Hugging Face folder (config.json, tokenizer files, model card,
 * safetensors shards; NVFP4 weights as a ModelOpt NVFP4 checkpoint). The folder converts back to the same GGUF.
 */
public final class Export implements Operation<Export.Request, Export.Result> {
    public record Request(Path gguf, Path output, ExportSettings settings) {}

    /** A plan over the open GGUF; close it to release the file. Its notes were given to the context as notices. */
    public record Planned(GgufShards gguf, HfExport.Plan plan) implements AutoCloseable {
        @Override public void close() { gguf.close(); }
    }

    public record Result(Path output, String hfClass, int files, HfExport.Summary summary, double seconds) {}

    public Planned plan(Request r, OperationContext ctx) throws OperationException {
        if (!Files.isRegularFile(r.gguf())) throw new BadInputException(r.gguf() + ": no such file");
        GgufShards f = null;
        try {
            f = GgufShards.open(r.gguf()); // a split model by its first shard, as llama.cpp loads it
            HfExport.Plan plan;
            try {
                plan = HfExport.plan(f.whole(), r.settings());
            } catch (IllegalArgumentException e) {
                throw new BadInputException(r.gguf() + ": " + e.getMessage(), e);
            }
            plan.notes().forEach(ctx::notice);
            return new Planned(f, plan);
        } catch (Exception e) {
            if (f != null) f.close();
            throw OperationException.of(e);
        }
    }

    @Override
    public Result run(Request r, OperationContext ctx) throws OperationException {
        if (r.output() == null) throw new BadInputException("export: no output folder given");
        OutputPaths.checkNewFolder(r.output());
        try (Planned p = plan(r, ctx)) {
            long total = p.plan().units().stream().flatMap(u -> u.tensors().stream()).mapToLong(t -> t.spec().byteSize()).sum();
            ctx.progress().begin("export", Math.max(1, total >> 20), "MiB");
            long[] done = {0};
            long start = System.nanoTime();
            HfExport.Summary s = HfExport.write(p.plan(), r.output(), t -> {
                ctx.checkCancelled();
                done[0] += t.spec().byteSize();
                ctx.progress().stepTo(done[0] >> 20);
            });
            ctx.progress().end();
            s.inexactElements().forEach((name, n) -> ctx.notice(name + ": " + n + " values rounded to "
                    + r.settings().dtype().name().toLowerCase(java.util.Locale.ROOT) + " (use --dtype f32 to keep them)"));
            return new Result(r.output(), p.plan().hfClass(), p.plan().shards().size(), s, (System.nanoTime() - start) / 1e9);
        } catch (Exception e) {
            throw OperationException.of(e);
        }
    }
}
