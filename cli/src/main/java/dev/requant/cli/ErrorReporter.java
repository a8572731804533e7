package dev.requant.cli;

import dev.requant.formats.TerminalText;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.sql.SQLException;
import picocli.CommandLine;

/**
 * Turns a failure into one line on stderr: "requant: error: FILE: what is wrong", control characters escaped (the
 * message may quote names from the file). Bad input (I/O and format errors,
 * {@link UserError}, database errors such as an unreachable queue server) is reported without a stack trace; anything else is a bug and gets its trace with --verbose.
 */
final class ErrorReporter implements CommandLine.IExecutionExceptionHandler {
    @Override
    public int handleExecutionException(Exception ex, CommandLine cl, CommandLine.ParseResult parsed) {
        Throwable e = ex;
        if (e instanceof UncheckedIOException u) e = u.getCause();
        var err = cl.getErr();
        if (e instanceof UserError || e instanceof IOException || e instanceof SQLException) {
            err.println("requant: error: " + TerminalText.escape(describe(e)));
            if (Verbosity.verbose()) e.printStackTrace(err);
            err.flush();
            return 1;
        }
        err.println("requant: internal error: " + TerminalText.escape(e));
        if (Verbosity.verbose()) e.printStackTrace(err);
        else err.println("(run with --verbose for the stack trace)");
        err.flush();
        return 1;
    }

    static String describe(Throwable e) {
        if (e instanceof NoSuchFileException n) return n.getFile() + ": no such file or directory";
        if (e instanceof AccessDeniedException a) return a.getFile() + ": permission denied";
        if (e instanceof FileAlreadyExistsException f) return f.getFile() + ": already exists";
        String m = e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m;
    }
}
