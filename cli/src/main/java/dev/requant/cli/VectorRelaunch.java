package dev.requant.cli;

import dev.requant.formats.ggml.VectorSupport;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Hands a command over to a JVM with the Vector API module. The ./requant launcher starts quantize without
 * jdk.incubator.vector: JDK 25 archives no module graph in an AOT cache when an incubator module is in the boot layer,
 * so with the module every lambda, string concatenation and method handle of a run is generated at start-up (0.2-0.35
 * s of a short command on 2 cores), and a small quantization's encoders are the scalar ones anyway. When the plan
 * shows work that the vector encoders pay for (VectorSupport#pays), the command runs again, whole, in the JVM that the
 * launcher describes in {@value #ENV}; this one waits for it and exits with its status.
 *
 * <p>{@value #ENV} holds that JVM's command line up to the arguments, one word per line (the java binary, its
 * options, {@code -jar} and the jar). The new JVM gets the same arguments, stdin and stdout; its stderr passes through
 * here, less the line "WARNING: Using incubator modules: jdk.incubator.vector" that the module makes the JVM print at
 * start (what the launcher's filter does for a JVM it starts itself). Signals: Ctrl-C reaches both processes (one
 * process group); a SIGTERM to this one is passed on, and this one waits for the other to finish.
 */
final class VectorRelaunch {
    private VectorRelaunch() {}

    static final String ENV = "REQUANT_VECTOR_JVM";
    static final String INCUBATOR_WARNING = "WARNING: Using incubator modules: jdk.incubator.vector";

    /**
     * Whether this JVM lacks the module and the launcher said how to start one with it (and -Drequant.vector=false,
     * which turns the vector encoders off anyway, was not given).
     */
    static boolean possible() {
        String jvm = System.getenv(ENV);
        return jvm != null && !jvm.isBlank() && !VectorSupport.modulePresent() && VectorSupport.requested();
    }

    /** Runs the whole command line of {@code spec}'s command in the JVM of {@value #ENV}; returns its exit status. */
    static int run(picocli.CommandLine.Model.CommandSpec spec) {
        List<String> args = spec.root().commandLine().getParseResult().originalArgs();
        return run(Arrays.asList(System.getenv(ENV).strip().split("\n")), args, new FileOutputStream(FileDescriptor.err));
    }

    /** The JVM that handed a command over to this one, whose end this one must not outlive. */
    static final String PARENT_PROPERTY = "requant.handed.over.from";

    /** Runs {@code args} in the JVM whose command line up to them is {@code jvm}, its stderr to {@code err}. */
    static int run(List<String> jvm, List<String> args, OutputStream err) {
        List<String> command = new ArrayList<>(jvm);
        // how the launcher saw stderr before its filter (this JVM's stderr is the terminal again; the new one's is a pipe)
        String tty = System.getProperty("requant.stderr.tty");
        if (tty != null) command.add(1, "-Drequant.stderr.tty=" + tty);
        command.add(1, "-D" + PARENT_PROPERTY + "=" + ProcessHandle.current().pid());
        command.addAll(args);
        if (Verbosity.verbose()) System.err.println("requant: handing over to a JVM with the Vector API: " + String.join(" ", command));
        System.out.flush();
        System.err.flush();
        ProcessBuilder pb = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.INHERIT).redirectOutput(ProcessBuilder.Redirect.INHERIT);
        pb.environment().remove(ENV);
        // registered before the start, so that a SIGTERM arriving at any moment reaches the other JVM too
        AtomicReference<Process> started = new AtomicReference<>();
        AtomicReference<Thread> copier = new AtomicReference<>();
        Thread passOn = new Thread(() -> {
            Process child = started.get();
            if (child == null) return;
            child.destroy(); // SIGTERM: the other JVM removes its temporary output as it would for its own signal
            try {
                child.waitFor();
                Thread c = copier.get();
                if (c != null) c.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "requant-child-stop");
        Runtime.getRuntime().addShutdownHook(passOn);
        try {
            Process child = pb.start();
            started.set(child);
            Thread stderr = new Thread(() -> copyStderr(child.getErrorStream(), err), "requant-child-stderr");
            copier.set(stderr);
            stderr.start();
            int status = child.waitFor();
            stderr.join();
            return status;
        } catch (IOException e) {
            System.err.println("requant: error: cannot start " + command.getFirst() + ": " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 130;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(passOn);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs
            }
        }
    }

    /**
     * In a JVM a command was handed over to: ends it (as a SIGTERM would: the temporary output removed, status 143)
     * when the JVM that handed it over ends first, which it does only when killed outright (SIGKILL): otherwise it
     * waits for this one.
     */
    static void endWithTheJvmThatHandedOver() {
        String pid = System.getProperty(PARENT_PROPERTY);
        if (pid == null) return;
        try {
            ProcessHandle.of(Long.parseLong(pid)).ifPresentOrElse(
                    parent -> parent.onExit().thenRun(() -> System.exit(143)), () -> System.exit(143));
        } catch (NumberFormatException e) {
            // not ours
        }
    }

    /**
     * Copies {@code in} to {@code out} as bytes, less a first line that is the module's warning (compared as it
     * arrives: any other first line is passed on from its first differing byte).
     */
    static void copyStderr(InputStream in, OutputStream out) {
        byte[] warning = (INCUBATOR_WARNING + "\n").getBytes(StandardCharsets.US_ASCII);
        try (in) {
            int matched = 0, b = 0;
            while (matched < warning.length && (b = in.read()) == (warning[matched] & 0xff)) matched++;
            if (matched < warning.length) { // not the warning: what was held back, then the byte that differed
                out.write(warning, 0, matched);
                if (b >= 0) out.write(b);
                out.flush();
                if (b < 0) return;
            }
            byte[] buf = new byte[8192];
            for (int n; (n = in.read(buf)) >= 0; ) {
                out.write(buf, 0, n);
                out.flush();
            }
        } catch (IOException e) {
            // the other process closed its stderr; nothing more to pass on
        }
    }
}
