package dev.requant.cli;

import dev.requant.cuda.ComputeDevice;
import dev.requant.formats.io.AtomicFile;
import dev.requant.ops.OperationException;
import dev.requant.ops.OutputPaths;
import dev.requant.ops.nvfp4.Fp4Verification;
import dev.requant.ops.nvfp4.VerifyFp4;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(addMethodSubcommands = false, name = "verify-fp4", mixinStandardHelpOptions = true,
        header = "Verify an NVFP4 model: static checks, W4A16/W4A4 logits against a reference, and a llama.cpp run.",
        description = {
            "Verify an NVFP4 model (ModelOpt / compressed-tensors folder, or an NVFP4 GGUF):",
            " 1. static: every code and block scale decodable, no NaN/Inf, scale ranges, fused-shard scales, llama.cpp headroom",
            "    (weights whose .scale llama.cpp drops; Q8_0 overflow into NaN), error against --reference per tensor;",
            " 2. dynamic (--text): logits of W4A16 and W4A4 (activations quantized to NVFP4 with input_scale) against the",
            "    reference: cuBLASLt block-scaled FP4 on Blackwell (compute capability 10.x/12.x), else a bit-faithful emulation",
            "    on the GPU and on the CPU (which must agree exactly); KLD, same top token, max |dlogit| per path;",
            " 3. engine (--engine): the GGUF run by llama.cpp (node-llama-cpp), non-finite logits flagged.",
            "Exit code 0 when the verdict is PASS, 1 when it is FAIL."
        })
final class VerifyFp4Command implements Callable<Integer> {
    @Parameters(paramLabel = "MODEL", description = "NVFP4 Hugging Face folder or NVFP4 .gguf file.")
    Path model;

    @Option(names = "--reference", paramLabel = "BF16_MODEL", description = "The float model it was quantized from (folder or .gguf).")
    Path reference;

    @Option(names = {"-f", "--text"}, paramLabel = "FILE", description = "Text for the dynamic check (skipped without it).")
    Path text;

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N", defaultValue = "128", description = "Tokens per chunk (default ${DEFAULT-VALUE}).")
    int nCtx;

    @Option(names = "--chunks", paramLabel = "N", defaultValue = "4", description = "Chunks to run (default ${DEFAULT-VALUE}).")
    int chunks;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "auto",
            description = "Where the W4A4 GPU paths run: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}).")
    ComputeDevice device;

    @Option(names = "--engine", description = "Also run the (converted) GGUF in llama.cpp through node-llama-cpp (interop/).")
    boolean engine;

    @Option(names = "--json", paramLabel = "OUT", arity = "0..1", fallbackValue = "-",
            description = "Write the report as JSON to OUT ('-' or no value: JSON alone on stdout).")
    Path json;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "CPU threads (default: all cores).")
    Integer threads;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws OperationException, IOException {
        if (json != null && !json.toString().equals("-")) OutputPaths.checkFile(json, model, reference, text);
        int nThreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        Fp4Verification v = new VerifyFp4().run(new VerifyFp4.Request(model, reference, text, nCtx, chunks, device, engine, nThreads),
                CliContext.of(spec.commandLine().getErr(), false));
        PrintWriter out = spec.commandLine().getOut();
        boolean jsonOnly = json != null && json.toString().equals("-");
        if (!jsonOnly) Fp4Report.print(v, out);
        if (json != null) {
            ObjectMapper m = PrettyJson.mapper();
            byte[] bytes = m.writeValueAsBytes(Fp4Report.toJson(v));
            if (jsonOnly) out.println(new String(bytes, StandardCharsets.UTF_8));
            else {
                try (AtomicFile f = AtomicFile.create(json)) {
                    f.channel().write(java.nio.ByteBuffer.wrap(bytes));
                    f.commit();
                }
            }
        }
        out.flush();
        return v.passed() ? 0 : 1;
    }
}
