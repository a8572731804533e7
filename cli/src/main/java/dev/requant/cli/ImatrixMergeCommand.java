package dev.requant.cli;

import dev.requant.ops.OperationException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

@Command(addMethodSubcommands = false, name = "merge", mixinStandardHelpOptions = true,
        header = "Combine imatrix files as llama-imatrix --in-file A --in-file B does.",
        description = {
            "Combine imatrix files as llama-imatrix --in-file A --in-file B ... does: sums and token counts add up, so",
            "each input weighs by the tokens it saw; datasets are concatenated; chunk_count = max(count) / chunk size.",
            "Inputs may be GGUF or legacy .dat, in any mix."
        })
final class ImatrixMergeCommand implements Callable<Integer> {
    @Parameters(paramLabel = "FILE", arity = "2..*", description = "Imatrix files to combine (GGUF or .dat).")
    List<Path> inputs;

    @Mixin
    ImatrixOutput output;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws OperationException {
        output.combineAndWrite(inputs, spec.commandLine().getOut(), CliContext.of(spec.commandLine().getErr(), true));
        return 0;
    }
}
