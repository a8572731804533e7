package dev.requant.cli;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Gives the process its real stderr back. The JVM prints "WARNING: Using incubator modules: jdk.incubator.vector" at
 * every start (the Vector API module; no option turns the line off), so the ./requant launcher starts the JVM with
 * stderr on a filter that drops that one line and passes any other start-up message on, and the real stderr on the
 * descriptor named by the system property requant.stderr.fd. Once main runs, nothing more comes from the module
 * system: this puts the real stderr back on descriptor 2 (dup2), so that the program, native libraries and the JVM
 * write to the terminal itself (no pipe in between; the filter sees end of file and exits). Creating the downcall
 * costs a cold JVM a tenth of a second or more, so --version and --help, which write only to stdout, skip it.
 */
final class LauncherStderr {
    private LauncherStderr() {}

    static void restore() {
        String fd = System.getProperty("requant.stderr.fd");
        if (fd == null) return;
        try {
            // One downcall: the descriptor itself stays open (harmless; child processes do not inherit it).
            Linker linker = Linker.nativeLinker();
            MethodHandle dup2 = linker.downcallHandle(linker.defaultLookup().find("dup2").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            System.err.flush();
            int ignored = (int) dup2.invokeExact(Integer.parseInt(fd), 2);
        } catch (Throwable e) {
            // stay on the filter: every line still arrives, only through a pipe
        }
    }

    /** Whether stderr is a terminal, as the launcher saw it before the filter (null: not started by the launcher). */
    static Boolean stderrWasTerminal() {
        String t = System.getProperty("requant.stderr.tty");
        return t == null ? null : t.equals("1");
    }
}
