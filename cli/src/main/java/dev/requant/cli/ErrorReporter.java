package dev.requant.cli;

import dev.requant.ops.CancelledException;
import dev.requant.ops.OperationException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.sql.SQLException;
import picocli.CommandLine;

/**
 * The CLI's conventions for failures, in one place. A usage error (an unknown option, a bad value) prints its one-line
 * reason and where the help is, exit 2. A failure prints one line, "requant: error: FILE: what is wrong", exit 1:
 * typed operation failures (bad input, the environment), I/O, {@link UserError} and database errors such as an
 * unreachable queue server. A cancelled operation exits 130. Anything else is a bug and gets its stack trace with
 * --verbose.
 */
final class ErrorReporter implements CommandLine.IExecutionExceptionHandler, CommandLine.IParameterExceptionHandler {
    static final int USAGE = 2;
    static final int FAILURE = 1;
    static final int CANCELLED = 130;

    @Override
    public int handleParseException(CommandLine.ParameterException ex, String[] args) {
        CommandLine cl = ex.getCommandLine();
        var err = cl.getErr();
        err.println("requant: " + ex.getMessage());
        String path = commandPath(cl);
        err.println("see 'requant " + (path.isEmpty() ? "" : path + " ") + "--help'");
        err.flush();
        return USAGE;
    }

    @Override
    public int handleExecutionException(Exception ex, CommandLine cl, CommandLine.ParseResult parsed) {
        if (ex instanceof CommandLine.ParameterException p) return handleParseException(p, new String[0]);
        Throwable e = ex;
        if (e instanceof UncheckedIOException u) e = u.getCause();
        var err = cl.getErr();
        if (e instanceof CancelledException) {
            err.println("requant: cancelled");
            err.flush();
            return CANCELLED;
        }
        if (e instanceof OperationException || e instanceof UserError || e instanceof IOException || e instanceof SQLException) {
            err.println("requant: error: " + describe(e));
            if (Verbosity.verbose()) e.printStackTrace(err);
            err.flush();
            return FAILURE;
        }
        err.println("requant: internal error: " + e);
        if (Verbosity.verbose()) e.printStackTrace(err);
        else err.println("(run with --verbose for the stack trace)");
        err.flush();
        return FAILURE;
    }

    /** "quantize", "imatrix merge", "queue add": the words after requant that name the command. */
    private static String commandPath(CommandLine cl) {
        StringBuilder sb = new StringBuilder();
        for (CommandLine c = cl; c != null && c.getParent() != null; c = c.getParent()) {
            sb.insert(0, sb.isEmpty() ? c.getCommandName() : c.getCommandName() + " ");
        }
        return sb.isEmpty() ? "" : sb.toString();
    }

    static String describe(Throwable e) {
        if (e instanceof NoSuchFileException n) return n.getFile() + ": no such file or directory";
        if (e instanceof AccessDeniedException a) return a.getFile() + ": permission denied";
        if (e instanceof FileAlreadyExistsException f) return f.getFile() + ": already exists";
        String m = e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m;
    }
}
