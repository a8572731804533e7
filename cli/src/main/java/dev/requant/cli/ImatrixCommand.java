package dev.requant.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code requant imatrix}: importance matrices. The file subcommands work on llama.cpp's GGUF and legacy .dat
 * imatrix files. Collection from a model and a text will be this command's own form,
 * {@code requant imatrix MODEL --text FILE ...} (picocli dispatches to a subcommand only when the first argument
 * is one of their names, so a model path and the subcommands can share the command).
 */
@Command(name = "imatrix", mixinStandardHelpOptions = true,
        description = {
            "Importance matrices in llama.cpp's formats (GGUF imatrix and legacy .dat).",
            "merge, convert and stats read either format; outputs are written atomically."
        },
        subcommands = {
            ImatrixMergeCommand.class,
            ImatrixConvertCommand.class,
            ImatrixStatsCommand.class
        })
final class ImatrixCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return 0;
    }
}
