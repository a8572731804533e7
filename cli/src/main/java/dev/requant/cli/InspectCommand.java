package dev.requant.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.TerminalText;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufValueType;
import dev.requant.formats.manifest.GgufManifest;
import dev.requant.formats.manifest.PythonJson;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.safetensors.SafetensorsTensor;
import dev.requant.ops.OperationException;
import dev.requant.ops.inspect.Inspect;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(addMethodSubcommands = false, name = "inspect", mixinStandardHelpOptions = true,
        description = {
            "Show what a GGUF file, safetensors file or Hugging Face folder holds.",
            "Metadata, tensor table and totals per type. Reads only the header unless --hash is given; the output is",
            "stable, for diffing.",
            "--json uses the schema of llama.cpp golden manifests (kv, tensors with ne/offset/n_bytes/sha256)."
        })
final class InspectCommand implements Callable<Integer> {
    @Parameters(paramLabel = "FILE", description = "A .gguf file, a .safetensors file, or a Hugging Face model folder.")
    Path file;

    @Option(names = "--json", description = "Print JSON instead of text.")
    boolean json;

    @Option(names = "--hash", description = "Compute the SHA-256 of each tensor's bytes (and of the whole GGUF file).")
    boolean hash;

    @Option(names = "--full-arrays", description = "Print array values in full instead of length, SHA-256 and the first 8.")
    boolean fullArrays;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws OperationException, IOException {
        PrintWriter out = spec.commandLine().getOut();
        try (Inspect.Inspected opened = new Inspect().run(new Inspect.Request(file), CliContext.of(spec.commandLine().getErr(), true))) {
            switch (opened) {
                case Inspect.Gguf g -> inspectGguf(g.file(), out);
                case Inspect.Safetensors st -> inspectSafetensors(st.path(), st.checkpoint(), st.architecture(), out);
            }
        }
        out.flush();
        return 0;
    }

    private void inspectGguf(GgufFile f, PrintWriter out) throws IOException {
        {
            if (json) {
                ObjectNode root = GgufManifest.of(f, hash, fullArrays);
                root.put("format", "gguf");
                out.println(PrettyJson.mapper().writeValueAsString(root));
                return;
            }
            out.printf("GGUF v%d  %s%n", f.version(), TerminalText.escape(file));
            out.printf("  size %d bytes, alignment %d, data section at byte %d%n", f.fileSize(), f.alignment(), f.dataOffset());
            if (hash) out.printf("  sha256 %s%n", GgufManifest.sha256(f.mapping()));
            long splitCount = f.metadata().getLong(GgufKeys.Split.COUNT).orElse(0L);
            if (splitCount > 1) { // this file only, as gguf-dump shows it; the model's other readers open every shard
                out.printf("  shard %d of %d of a split model: %d of its %d tensors are in this file%n",
                        f.metadata().getLong(GgufKeys.Split.NO).orElse(0L) + 1, splitCount, f.tensors().size(),
                        f.metadata().getLong(GgufKeys.Split.TENSORS_COUNT).orElse(-1L));
            }
            out.printf("%nmetadata (%d keys)%n", f.metadata().size());
            TextTable kv = new TextTable("key", "type", "value");
            for (var e : f.metadata().asMap().entrySet()) kv.row(e.getKey(), typeName(e.getValue()), valueText(e.getValue()));
            kv.print(out, "  ");
            for (String w : f.llamaCppIncompatibilities()) out.println("  warning: " + TerminalText.escape(w));

            out.printf("%ntensors (%d)%n", f.tensors().size());
            TextTable tt = hash
                    ? new TextTable("name", "type", "shape (ne)", ">bytes", ">offset", "sha256")
                    : new TextTable("name", "type", "shape (ne)", ">bytes", ">offset");
            Map<String, long[]> totals = new TreeMap<>();
            for (GgufTensorInfo t : f.tensors()) {
                String shape = shape(t.ne());
                if (hash) tt.row(t.name(), t.type(), shape, t.byteSize(), t.offset(), GgufManifest.sha256(f.tensorData(t)));
                else tt.row(t.name(), t.type(), shape, t.byteSize(), t.offset());
                long[] acc = totals.computeIfAbsent(t.type().name(), k -> new long[3]);
                acc[0]++;
                acc[1] += t.byteSize();
                acc[2] += t.spec().elementCount();
            }
            tt.print(out, "  ");
            printTotals(out, totals);
        }
    }

    private void inspectSafetensors(Path file, SafetensorsCheckpoint ck, String arch, PrintWriter out) throws IOException {
        {
            QuantizedSummary quant = Files.isDirectory(file) ? QuantizedSummary.of(file, ck) : null;
            if (json) {
                ObjectNode root = PrettyJson.mapper().createObjectNode();
                root.put("format", "safetensors");
                root.put("path", file.toString());
                if (arch != null) root.put("architecture", arch);
                if (quant != null) root.set("quantization", quant.json());
                ArrayNode files = root.putArray("files");
                for (var f : ck.files()) {
                    ObjectNode fn = files.addObject();
                    fn.put("file", f.path().getFileName().toString());
                    fn.put("size", f.fileSize());
                    fn.put("data_start", f.dataStart());
                    ObjectNode md = fn.putObject("metadata");
                    f.metadata().forEach(md::put);
                }
                ArrayNode ts = root.putArray("tensors");
                for (var e : ck.entries()) {
                    SafetensorsTensor t = e.tensor();
                    ObjectNode n = ts.addObject();
                    n.put("name", t.name());
                    n.put("dtype", t.dtype().name());
                    ArrayNode sh = n.putArray("shape");
                    for (long d : t.shape()) sh.add(d);
                    n.put("file", e.file().path().getFileName().toString());
                    n.put("offset", t.begin());
                    n.put("n_bytes", t.byteSize());
                    if (hash) n.put("sha256", GgufManifest.sha256(e.file().data(t)));
                }
                out.println(PrettyJson.mapper().writeValueAsString(root));
                return;
            }
            out.printf("safetensors  %s  (%d file%s, %d tensors, %d bytes of data)%n", TerminalText.escape(file), ck.files().size(),
                    ck.files().size() == 1 ? "" : "s", ck.entries().size(), ck.totalBytes());
            if (arch != null) out.printf("  config: %s%n", TerminalText.escape(arch));
            if (quant != null) out.printf("  quantization: %s%n", TerminalText.escape(quant.text()));
            for (var f : ck.files()) {
                out.printf("  %s: %d bytes, data at byte %d%s%n", TerminalText.escape(f.path().getFileName()), f.fileSize(), f.dataStart(),
                        f.metadata().isEmpty() ? "" : ", metadata " + TerminalText.escape(f.metadata()));
            }
            out.printf("%ntensors (%d)%n", ck.entries().size());
            boolean multi = ck.files().size() > 1;
            TextTable tt = new TextTable(cols(multi, hash));
            Map<String, long[]> totals = new TreeMap<>();
            for (var e : ck.entries()) {
                SafetensorsTensor t = e.tensor();
                Object[] row = new Object[] {t.name(), t.dtype(), shape(t.shape()), t.byteSize(), t.begin()};
                if (multi) row = append(row, e.file().path().getFileName());
                if (hash) row = append(row, GgufManifest.sha256(e.file().data(t)));
                tt.row(row);
                long[] acc = totals.computeIfAbsent(t.dtype().name(), k -> new long[3]);
                acc[0]++;
                acc[1] += t.byteSize();
                acc[2] += t.elementCount();
            }
            tt.print(out, "  ");
            printTotals(out, totals);
        }
    }

    private static String[] cols(boolean multi, boolean hash) {
        String[] c = {"name", "dtype", "shape", ">bytes", ">offset"};
        if (multi) c = Arrays.copyOf(c, c.length + 1);
        if (multi) c[c.length - 1] = "file";
        if (hash) {
            c = Arrays.copyOf(c, c.length + 1);
            c[c.length - 1] = "sha256";
        }
        return c;
    }

    private static Object[] append(Object[] a, Object x) {
        Object[] r = Arrays.copyOf(a, a.length + 1);
        r[a.length] = x;
        return r;
    }

    private static void printTotals(PrintWriter out, Map<String, long[]> totals) {
        out.printf("%ntotals%n");
        TextTable t = new TextTable("type", ">tensors", ">bytes", ">elements");
        long n = 0, b = 0, e = 0;
        for (var x : totals.entrySet()) {
            t.row(x.getKey(), x.getValue()[0], x.getValue()[1], x.getValue()[2]);
            n += x.getValue()[0];
            b += x.getValue()[1];
            e += x.getValue()[2];
        }
        t.row("all", n, b, e);
        t.print(out, "  ");
    }

    static String shape(long[] dims) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < dims.length; i++) {
            if (i > 0) sb.append(" x ");
            sb.append(dims[i]);
        }
        return dims.length == 0 ? "scalar" : sb.toString();
    }

    private static String typeName(GgufValue v) {
        if (v.type() != GgufValueType.ARRAY) return v.type().name();
        GgufArray a = v.asArray();
        return a.elementType().name() + "[" + a.length() + "]";
    }

    private static final int SHOWN = 6;

    static String valueText(GgufValue v) {
        if (v.type() == GgufValueType.STRING) return quote(v.asString(), 120);
        if (v.type() == GgufValueType.FLOAT32 || v.type() == GgufValueType.FLOAT64) {
            return PythonJson.repr(v.type() == GgufValueType.FLOAT32 ? (double) (Float) v.value() : (Double) v.value());
        }
        if (v.type() == GgufValueType.UINT64) return Long.toUnsignedString(v.asLong());
        if (v.type() != GgufValueType.ARRAY) return String.valueOf(v.value());
        GgufArray a = v.asArray();
        StringBuilder sb = new StringBuilder("[");
        int n = Math.min(SHOWN, a.length());
        for (int i = 0; i < n; i++) {
            if (i > 0) sb.append(", ");
            Object x = a.get(i);
            if (x instanceof String s) sb.append(quote(s, 24));
            else if (x instanceof Float f) sb.append(PythonJson.repr(f));
            else if (x instanceof GgufArray inner) sb.append(inner);
            else sb.append(x);
        }
        if (a.length() > n) sb.append(", ... ").append(a.length() - n).append(" more");
        return sb.append(']').toString();
    }

    private static String quote(String s, int max) {
        StringBuilder sb = new StringBuilder();
        PythonJson.appendString(sb, s.length() > max ? s.substring(0, max) : s);
        if (s.length() > max) sb.append("...(").append(s.length()).append(" chars)");
        return sb.toString();
    }
}
