package dev.requant.cli;

import dev.requant.ops.OperationException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

@Command(addMethodSubcommands = false, name = "convert", mixinStandardHelpOptions = true,
        header = "Convert an imatrix between GGUF and legacy .dat, as llama-imatrix does.",
        description = {
            "Convert an imatrix between GGUF and legacy .dat as llama-imatrix --in-file IN -c N --output-format F does.",
            "GGUF to .dat gives llama-imatrix's bytes exactly. A .dat file does not store its chunk size; going back to",
            "GGUF multiplies its values by -c (default 512, like llama-imatrix), which cancels in the importance."
        })
final class ImatrixConvertCommand implements Callable<Integer> {
    @Parameters(paramLabel = "IN", description = "Imatrix file (GGUF or .dat).")
    Path input;

    @Mixin
    ImatrixOutput output;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws OperationException {
        output.combineAndWrite(List.of(input), spec.commandLine().getOut(), CliContext.of(spec.commandLine().getErr(), true));
        return 0;
    }
}
