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
 * write to the terminal itself (bars see a terminal, no pipe in between, the filter sees end of file and exits).
 */
final class LauncherStderr {
    private LauncherStderr() {}

    static void restore() {
        String fd = System.getProperty("requant.stderr.fd");
        if (fd == null) return;
        try {
            Linker linker = Linker.nativeLinker();
            FunctionDescriptor intInt = FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT);
            MethodHandle dup2 = linker.downcallHandle(linker.defaultLookup().find("dup2").orElseThrow(), intInt);
            MethodHandle close = linker.downcallHandle(linker.defaultLookup().find("close").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            int real = Integer.parseInt(fd);
            System.err.flush();
            if ((int) dup2.invokeExact(real, 2) == 2) {
                int ignored = (int) close.invokeExact(real);
            }
        } catch (Throwable e) {
            // stay on the filter: every line still arrives, only through a pipe
        }
    }
}
