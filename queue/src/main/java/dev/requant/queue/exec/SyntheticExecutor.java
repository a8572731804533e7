package dev.requant.queue.exec;

import dev.requant.formats.io.AtomicFile;
import dev.requant.formats.gguf.FileType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;

/**
 * A deterministic stand-in for convert, imatrix and quantize, for testing the queue itself: it takes a configurable
 * time (reporting progress), then writes a small file whose bytes depend only on the step's kind, type and final file
 * name ({@link #expectedContent}), through {@link AtomicFile}. Rules matched against the final file name make chosen
 * steps slow, fail their first attempts, or kill the whole worker process between writing and renaming (a crash).
 *
 * <p>With a ledger file, every attempt appends "start STEP ATTEMPT WORKER" and, once its output is complete,
 * "wrote STEP ATTEMPT WORKER" (one small O_APPEND write each, so lines from several processes never interleave): tests
 * count them to prove that no step ran twice.
 *
 * <p>Settings are a comma-separated list: {@code duration=MS}, {@code size=BYTES}, {@code ledger=FILE}, and
 * {@code rule=GLOB:KEY=VALUE:...} with keys {@code duration}, {@code fail} (fail the first N attempts) and
 * {@code crash=before-rename}. Example: {@code duration=50,rule=*-Q8_0.gguf:duration=4000,rule=*-Q4_0.gguf:fail=2}.
 */
public final class SyntheticExecutor implements StepExecutor<StepWork> {
    /** Per-name overrides; null fields fall back to the defaults. */
    public record Rule(PathMatcher name, String glob, Long durationMillis, Integer failAttempts, boolean crashBeforeRename) {}

    private final long durationMillis;
    private final int sizeBytes;
    private final Path ledger;
    private final List<Rule> rules;

    public SyntheticExecutor(long durationMillis, int sizeBytes, Path ledger, List<Rule> rules) {
        if (durationMillis < 0 || sizeBytes < 0) throw new IllegalArgumentException("negative duration or size");
        this.durationMillis = durationMillis;
        this.sizeBytes = sizeBytes;
        this.ledger = ledger;
        this.rules = List.copyOf(rules);
    }

    /** Parses the settings string described in the class comment. */
    public static SyntheticExecutor parse(String settings) {
        long duration = 0;
        int size = 4096;
        Path ledger = null;
        List<Rule> rules = new ArrayList<>();
        if (settings != null && !settings.isBlank()) {
            for (String item : settings.split(",")) {
                String it = item.trim();
                if (it.isEmpty()) continue;
                if (it.startsWith("rule=")) {
                    rules.add(parseRule(it.substring(5)));
                    continue;
                }
                String[] kv = it.split("=", 2);
                if (kv.length != 2) throw new IllegalArgumentException("synthetic executor: '" + it + "' is not KEY=VALUE");
                switch (kv[0]) {
                    case "duration" -> duration = Long.parseLong(kv[1]);
                    case "size" -> size = Integer.parseInt(kv[1]);
                    case "ledger" -> ledger = Path.of(kv[1]);
                    default -> throw new IllegalArgumentException("synthetic executor: unknown setting '" + kv[0] + "'");
                }
            }
        }
        return new SyntheticExecutor(duration, size, ledger, rules);
    }

    private static Rule parseRule(String spec) {
        String[] parts = spec.split(":");
        Long duration = null;
        Integer fail = null;
        boolean crash = false;
        for (int i = 1; i < parts.length; i++) {
            String[] kv = parts[i].split("=", 2);
            switch (kv[0]) {
                case "duration" -> duration = Long.parseLong(kv[1]);
                case "fail" -> fail = Integer.parseInt(kv[1]);
                case "crash" -> {
                    if (!"before-rename".equals(kv.length == 2 ? kv[1] : "")) {
                        throw new IllegalArgumentException("synthetic executor: crash=before-rename is the only crash point");
                    }
                    crash = true;
                }
                default -> throw new IllegalArgumentException("synthetic executor: unknown rule key '" + kv[0] + "'");
            }
        }
        return new Rule(FileSystems.getDefault().getPathMatcher("glob:" + parts[0]), parts[0], duration, fail, crash);
    }

    @Override
    public void execute(StepWork work, StepContext ctx) throws Exception {
        Path finalName = ctx.finalOutput().getFileName();
        Rule rule = rules.stream().filter(r -> r.name().matches(finalName)).findFirst().orElse(null);
        long duration = rule != null && rule.durationMillis() != null ? rule.durationMillis() : durationMillis;
        record("start", ctx);
        ctx.log("synthetic " + work.kind().label() + " -> " + finalName + " (" + duration + " ms)");
        for (Path input : inputs(work)) {
            if (!Files.exists(input)) throw new IOException(input + ": input does not exist");
        }
        long start = System.nanoTime();
        while (true) {
            long elapsed = (System.nanoTime() - start) / 1_000_000;
            if (elapsed >= duration) break;
            if (ctx.cancelled()) throw new CancellationException("cancelled");
            ctx.progress(elapsed, duration);
            try {
                Thread.sleep(Math.min(50, duration - elapsed));
            } catch (InterruptedException e) {
                throw new CancellationException("interrupted");
            }
        }
        if (rule != null && rule.failAttempts() != null && ctx.attempt() <= rule.failAttempts()) {
            throw new IOException("synthetic failure of attempt " + ctx.attempt() + " (rule " + rule.glob() + ")");
        }
        byte[] content = expectedContent(work.kind(), typeOf(work), finalName.toString(), sizeBytes);
        try (AtomicFile out = AtomicFile.create(work.output())) {
            ByteBuffer buf = ByteBuffer.wrap(content);
            while (buf.hasRemaining()) out.channel().write(buf);
            if (rule != null && rule.crashBeforeRename()) {
                out.channel().force(true);
                ctx.log("synthetic crash: halting the worker before the rename");
                System.err.println("synthetic executor: halting the JVM before renaming " + work.output());
                Runtime.getRuntime().halt(99);
            }
            out.commit();
        }
        ctx.progress(1.0);
        record("wrote", ctx);
    }

    private static List<Path> inputs(StepWork work) {
        return switch (work) {
            case StepWork.Convert c -> List.of(c.source());
            case StepWork.Imatrix m -> List.of(m.model(), m.calibration());
            case StepWork.Quantize q -> q.imatrix().isPresent() ? List.of(q.model(), q.imatrix().get()) : List.of(q.model());
        };
    }

    private static String typeOf(StepWork work) {
        return work instanceof StepWork.Quantize q ? q.type().name() : work.kind() == StepKind.CONVERT ? FileType.BF16.name() : "imatrix";
    }

    /** The exact bytes a synthetic step writes: a header line, then pseudo-random bytes seeded by the name. */
    public static byte[] expectedContent(StepKind kind, String type, String finalName, int size) {
        byte[] header = ("requant synthetic " + kind.label() + " " + type + " " + finalName + "\n").getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[Math.max(size, header.length)];
        System.arraycopy(header, 0, out, 0, header.length);
        SplittableRandom random = new SplittableRandom(finalName.hashCode() * 31L + kind.ordinal());
        for (int i = header.length; i < out.length; i++) out[i] = (byte) random.nextInt(256);
        return out;
    }

    private void record(String event, StepContext ctx) throws IOException {
        if (ledger == null) return;
        byte[] line = (event + " " + ctx.stepId() + " " + ctx.attempt() + " " + ctx.worker() + "\n").getBytes(StandardCharsets.UTF_8);
        Files.write(ledger, line, StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
    }
}
