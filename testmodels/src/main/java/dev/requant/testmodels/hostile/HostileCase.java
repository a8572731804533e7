package dev.requant.testmodels.hostile;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One hostile input of the corpus ({@link HostileCorpus}): files written into a fresh folder, and the requant command
 * lines that must handle them. In an argument, {@code {dir}} stands for the case's folder and {@code {base}} for the
 * folder of valid inputs ({@link BaseInputs}); outputs go to {@code {dir}/out}, which must stay empty when a run is
 * refused (no half-written output, no temporary file).
 *
 * @param id unique, stable, usable as a folder name
 * @param point the issue point it belongs to ("18.1" ... "18.7"), or "base" for corruptions the readers already caught
 */
public record HostileCase(String id, String point, String description, Setup setup, List<Run> runs) {
    /** Writes the case's input files into its (empty, existing) folder. */
    @FunctionalInterface
    public interface Setup {
        void write(Path dir, BaseInputs base) throws IOException;
    }

    /** What a run must do with the input. */
    public enum Expect {
        /** Refuse it: a one-line error (exit 1, or 2 for a bad option), nothing left in {dir}/out. */
        REFUSE,
        /** Accept it: a valid input (a control), or a hostile one that must be handled, not refused (exit 0). */
        ACCEPT
    }

    /**
     * One requant command line.
     *
     * @param fragment text the error message must contain, or null for any clean error; for a run that must be
     *     accepted, text its stdout must contain (the escaped form of a hostile name)
     * @param namesFile whether the error must name {dir} or {base} (every input error does; option errors need not)
     */
    public record Run(List<String> args, Expect expect, String fragment, boolean namesFile) {
        public String command() { return args.getFirst(); }

        /** The arguments with the placeholders resolved. */
        public List<String> resolve(Path dir, Path base) {
            List<String> out = new ArrayList<>(args.size());
            for (String a : args) out.add(a.replace("{dir}", dir.toString()).replace("{base}", base.toString()));
            return out;
        }

        public Run expecting(String fragment) { return new Run(args, expect, fragment, namesFile); }

        public Run withoutFileName() { return new Run(args, expect, fragment, false); }
    }

    // ---- command lines the families share (small and single-threaded, so a corpus run stays cheap)

    public static Run inspect(String file) {
        return refuse("inspect", file);
    }

    /** convert FOLDER to {dir}/out/m.gguf. */
    public static Run convert(String folder, String type) {
        return refuse("convert", folder, "-o", "{dir}/out/m.gguf", "--type", type, "--threads", "1", "--no-progress");
    }

    /** quantize GGUF to {dir}/out/q.gguf as Q8_0. */
    public static Run quantize(String gguf) {
        return refuse("quantize", gguf, "{dir}/out/q.gguf", "Q8_0", "1", "--no-progress");
    }

    /** quantize the valid model with an imatrix, as Q4_K_M. */
    public static Run quantizeWithImatrix(String imatrix) {
        return refuse("quantize", "--imatrix", imatrix, "{base}/model.gguf", "{dir}/out/q.gguf", "Q4_K_M", "1", "--no-progress");
    }

    /** imatrix collection over one 32-token chunk of the base text, on the CPU. */
    public static Run imatrix(String gguf, String text) {
        return refuse("imatrix", gguf, "--text", text, "-o", "{dir}/out/im.gguf", "-c", "32", "--chunks", "1", "--device", "cpu",
                "--threads", "1", "--no-progress");
    }

    public static Run refuse(String... args) {
        return new Run(List.of(args), Expect.REFUSE, null, true);
    }

    public static Run accept(String... args) {
        return new Run(List.of(args), Expect.ACCEPT, null, false);
    }

    @Override
    public String toString() { return id; }
}
