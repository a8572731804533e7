package dev.requant.llamacpp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The real llama.cpp as an optional engine: runs {@code interop/llama-probe.mjs} (node-llama-cpp 3.22.1, CPU, offline)
 * on a GGUF file to tokenize text or to get the next-token logits of a sequence of ids. It is optional: requant works
 * without it, and {@link #find()} says in one line why it cannot run (no node, node-llama-cpp not installed), so a
 * command that wants it can report "not run" instead of failing. Install it with {@code scripts/test-prepare-interop.sh}.
 *
 * <p>The {@code interop/} folder is looked up in {@value #DIR_ENV}, then beside the project checkout ({@code
 * requant.root}, the folders above the running jar, the folders above the working directory).
 */
public final class LlamaCppEngine {
    /** An {@code interop/} folder to use instead of the checkout's. */
    public static final String DIR_ENV = "REQUANT_INTEROP_DIR";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long TIMEOUT_SECONDS = 300;

    private final Path node;
    private final Path script;

    private LlamaCppEngine(Path node, Path script) {
        this.node = node;
        this.script = script;
    }

    /** The engine, or the one-line reason it cannot run here. */
    public static Availability find() {
        Optional<Path> dir = interopDir();
        if (dir.isEmpty()) {
            return new Availability(null, "no interop/ folder found (set " + DIR_ENV + ", or run from the requant checkout)");
        }
        Path script = dir.get().resolve("llama-probe.mjs");
        if (!Files.isRegularFile(script)) return new Availability(null, script + " is missing");
        if (!Files.isDirectory(dir.get().resolve("node_modules/node-llama-cpp"))) {
            return new Availability(null, "node-llama-cpp is not installed in " + dir.get() + " (run scripts/test-prepare-interop.sh)");
        }
        Optional<Path> node = onPath("node");
        if (node.isEmpty()) return new Availability(null, "node is not on the PATH (install Node.js 20+)");
        return new Availability(new LlamaCppEngine(node.get(), script), null);
    }

    private static Optional<Path> interopDir() {
        String env = System.getenv(DIR_ENV);
        if (env != null && !env.isBlank()) return Optional.of(Path.of(env));
        java.util.List<Path> starts = new ArrayList<>();
        String root = System.getProperty("requant.root");
        if (root != null) starts.add(Path.of(root));
        try {
            var src = LlamaCppEngine.class.getProtectionDomain().getCodeSource();
            if (src != null) starts.add(Path.of(src.getLocation().toURI()));
        } catch (java.net.URISyntaxException | SecurityException | IllegalArgumentException e) {
            // no usable location: the working directory still is one
        }
        starts.add(Path.of("").toAbsolutePath());
        for (Path start : starts) {
            for (Path p = start.toAbsolutePath(); p != null; p = p.getParent()) {
                if (Files.isRegularFile(p.resolve("interop/llama-probe.mjs"))) return Optional.of(p.resolve("interop"));
            }
        }
        return Optional.empty();
    }

    /** The engine if found, else why not. */
    public record Availability(LlamaCppEngine engine, String reason) {}

    private static Optional<Path> onPath(String exe) {
        String path = System.getenv("PATH");
        if (path == null) return Optional.empty();
        for (String dir : path.split(java.io.File.pathSeparator)) {
            Path p = Path.of(dir, exe);
            if (Files.isExecutable(p)) return Optional.of(p);
        }
        return Optional.empty();
    }

    /** llama_tokenize(text, add_special = false, parse_special). */
    public int[] tokenize(Path gguf, String text, boolean parseSpecial) throws IOException {
        Path dir = Files.createTempDirectory("llama-probe");
        try {
            Path in = dir.resolve("text.txt"), out = dir.resolve("ids.bin");
            Files.writeString(in, text, StandardCharsets.UTF_8);
            List<String> args = new ArrayList<>(List.of("--model", gguf.toString(), "--tokenize", in.toString(), "--out", out.toString()));
            if (parseSpecial) args.add("--special");
            run(args);
            ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(out)).order(ByteOrder.LITTLE_ENDIAN);
            int[] ids = new int[b.remaining() / 4];
            b.asIntBuffer().get(ids);
            return ids;
        } finally {
            deleteTree(dir);
        }
    }

    /**
     * The raw next-token logits after each of {@code ids}, evaluated as one sequence from position 0 (F32 KV cache,
     * no flash attention): {@code [ids.length][n_vocab]}.
     */
    public float[][] logits(Path gguf, int[] ids) throws IOException {
        Path dir = Files.createTempDirectory("llama-probe");
        try {
            Path in = dir.resolve("ids.json"), out = dir.resolve("logits.f32");
            Files.writeString(in, JSON.writeValueAsString(ids));
            JsonNode summary = run(List.of("--model", gguf.toString(), "--logits", in.toString(), "--out", out.toString()));
            int vocab = summary.get("vocab").asInt();
            ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(out)).order(ByteOrder.LITTLE_ENDIAN);
            float[][] rows = new float[ids.length][vocab];
            for (int i = 0; i < ids.length; i++) {
                for (int j = 0; j < vocab; j++) rows[i][j] = b.getFloat((i * vocab + j) * 4);
            }
            return rows;
        } finally {
            deleteTree(dir);
        }
    }

    /** What llama.cpp reports about a model (architecture, vocabulary type, bos/eos). */
    public JsonNode info(Path gguf) throws IOException {
        return run(List.of("--model", gguf.toString(), "--info"));
    }

    private JsonNode run(List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(node.toString(), script.toString()));
        cmd.addAll(args);
        Path err = Files.createTempFile("llama-probe", ".err");
        try {
            Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).directory(script.getParent().toFile()).start();
            byte[] stdout = p.getInputStream().readAllBytes();
            boolean done = p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (!done) {
                p.destroyForcibly();
                throw new IOException("llama-probe timed out after " + TIMEOUT_SECONDS + " s: " + String.join(" ", args));
            }
            if (p.exitValue() != 0) {
                String e = Files.readString(err).strip();
                throw new IOException("llama-probe failed (exit " + p.exitValue() + "): " + (e.length() > 2000 ? e.substring(e.length() - 2000) : e));
            }
            String text = new String(stdout, StandardCharsets.UTF_8).strip();
            String last = text.substring(text.lastIndexOf('\n') + 1);
            return JSON.readTree(last);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } finally {
            Files.deleteIfExists(err);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
