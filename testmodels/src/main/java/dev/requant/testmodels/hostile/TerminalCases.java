package dev.requant.testmodels.hostile;

import static dev.requant.testmodels.hostile.HostileCase.accept;

import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufWriter;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixEntry;
import dev.requant.formats.imatrix.ImatrixFormat;
import dev.requant.formats.imatrix.ImatrixWriter;
import dev.requant.formats.nvfp4.Nvfp4Format;
import dev.requant.testmodels.RunnableSyntheticGguf;
import dev.requant.testmodels.SyntheticNvfp4;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * 18.6 for the commands that report on a model rather than read its header: eval, qat-report, imatrix stats and
 * verify-fp4 print model names, file names, tensor names and imatrix datasets in formatted lines and tables, as text
 * and as --json. Each case carries the four kinds of sequence a terminal acts on (ESC with a clear-screen CSI, the C1
 * CSI 0x9b, the right-to-left override U+202E) in every name the file holds, and control characters in the file names
 * themselves; every run must succeed and print none of them raw (the verdict checks stdout and stderr).
 */
final class TerminalCases {
    private TerminalCases() {}

    /** What a hostile name holds: ESC[2J (clear screen), the C1 CSI 0x9b, a right-to-left override. */
    static final String HOSTILE = "\u001b[2J\u009b31m\u202Eevil";

    /**
     * The same in a file name, ASCII only (ESC, CSI, BEL): non-ASCII file names depend on the locale's file-name
     * encoding, which is not what these cases test.
     */
    static final String HOSTILE_FILE = "x" + EnvironmentCases.ESC_CLEAR + "\u0007y";

    /** How the names must come out: escaped as text ({@code TerminalText}) and in JSON ({@code \}{@code uXXXX}). */
    static final String NAME_TEXT = "\\x1b[2J\\x9b31m\\u202Eevil", NAME_JSON = "\\u001B[2J\\u009B31m\\u202Eevil",
            FILE_TEXT = "x\\x1b[2J\\x07y", FILE_JSON = "x\\u001B[2J\\u0007y";

    static List<HostileCase> cases() {
        List<HostileCase> c = new ArrayList<>();
        String ref = "{dir}/ref" + HOSTILE_FILE + ".gguf", q = "{dir}/q" + HOSTILE_FILE + ".gguf";
        List<String> eval = List.of("eval", "--base", ref, "--compare", q, "-f", "{base}/text.txt", "-c", "32", "--chunks", "1", "--device", "cpu",
                "--threads", "1", "--no-progress");
        c.add(new HostileCase("terminal-eval", "18.6", "eval of models whose file names and general.name hold ESC[2J, 0x9b and U+202E",
                (dir, base) -> {
                    rewrite(base.gguf(), dir.resolve("ref" + HOSTILE_FILE + ".gguf"), name -> name);
                    rewrite(base.gguf(), dir.resolve("q" + HOSTILE_FILE + ".gguf"), name -> name);
                }, List.of(accept(eval.toArray(String[]::new)).expecting(FILE_TEXT), accept(plus(eval, "--json", "-")).expecting(FILE_JSON))));

        String model = "{dir}/m" + HOSTILE_FILE + ".gguf";
        c.add(new HostileCase("terminal-qat-report", "18.6", "qat-report of a GGUF whose tensor names and general.name hold ESC[2J, 0x9b and U+202E",
                (dir, base) -> rewrite(base.gguf(), dir.resolve("m" + HOSTILE_FILE + ".gguf"),
                        name -> name.startsWith("blk.0.") ? "blk.0." + HOSTILE + name.substring(6) : name),
                List.of(accept("qat-report", model, "--tensors", "--threads", "1").expecting(NAME_TEXT),
                        accept("qat-report", model, "--json", "--threads", "1").expecting(NAME_JSON))));

        c.add(new HostileCase("terminal-imatrix-stats", "18.6", "imatrix stats of imatrix files whose entry names and dataset hold ESC[2J, 0x9b and U+202E",
                (dir, base) -> {
                    Map<String, ImatrixEntry> entries = new LinkedHashMap<>();
                    for (ImatrixEntry e : BaseInputs.imatrixFor(RunnableSyntheticGguf.tensors(BaseInputs.GGUF_SHAPE,
                            dev.requant.formats.ggml.GgmlType.BF16)).entries().values()) {
                        String name = e.name().startsWith("blk.0.") ? "blk.0." + HOSTILE + e.name().substring(6) : e.name();
                        entries.put(name, new ImatrixEntry(name, e.sums(), e.counts()));
                    }
                    Imatrix im = Imatrix.raw(entries, List.of(HOSTILE + ".txt"), 10, 32);
                    ImatrixWriter.write(dir.resolve("im" + HOSTILE_FILE + ".gguf"), im, ImatrixFormat.GGUF);
                    ImatrixWriter.write(dir.resolve("im" + HOSTILE_FILE + ".dat"), im, ImatrixFormat.DAT);
                }, List.of(accept("imatrix", "stats", "{dir}/im" + HOSTILE_FILE + ".gguf").expecting(NAME_TEXT),
                        accept("imatrix", "stats", "{dir}/im" + HOSTILE_FILE + ".dat").expecting(NAME_TEXT),
                        accept("imatrix", "stats", "{dir}/im" + HOSTILE_FILE + ".gguf", "--json").expecting(NAME_JSON))));

        String nv = "{dir}/nv" + HOSTILE_FILE, bf16 = "{dir}/bf16" + HOSTILE_FILE;
        c.add(new HostileCase("terminal-verify-fp4", "18.6", "verify-fp4 of an NVFP4 folder and a reference whose names hold ESC[2J and BEL",
                (dir, base) -> {
                    BaseInputs.copy(base.hf(), dir.resolve("bf16" + HOSTILE_FILE));
                    SyntheticNvfp4.write(base.hf(), dir.resolve("nv" + HOSTILE_FILE), Nvfp4Format.MODELOPT, Map.of());
                }, List.of(accept("verify-fp4", nv, "--reference", bf16, "--threads", "1").expecting(FILE_TEXT),
                        accept("verify-fp4", nv, "--reference", bf16, "--threads", "1", "--json", "-").expecting(FILE_JSON))));
        return c;
    }

    private static String[] plus(List<String> args, String... more) {
        List<String> all = new ArrayList<>(args);
        all.addAll(List.of(more));
        return all.toArray(String[]::new);
    }

    /** {@code base} copied to {@code out} with general.name set to {@link #HOSTILE} and its tensors renamed. */
    static void rewrite(Path base, Path out, UnaryOperator<String> rename) throws IOException {
        try (GgufFile in = GgufFile.open(base)) {
            GgufMetadata m = new GgufMetadata(in.metadata());
            m.put("general.name", GgufValue.string("synthetic " + HOSTILE));
            List<GgufTensorSpec> specs = new ArrayList<>();
            for (GgufTensorInfo t : in.tensors()) specs.add(new GgufTensorSpec(rename.apply(t.name()), t.type(), t.ne()));
            try (GgufWriter w = GgufWriter.create(out, m, specs)) {
                for (GgufTensorInfo t : in.tensors()) w.writeTensor(rename.apply(t.name()), in.tensorData(t));
                w.commit();
            }
        }
    }
}
