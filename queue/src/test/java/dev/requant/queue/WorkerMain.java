package dev.requant.queue;

import dev.requant.queue.exec.ExecutorRegistry;
import dev.requant.queue.exec.SyntheticExecutor;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.time.Duration;

/**
 * A worker process for the tests: the real {@link QueueWorker} with the {@link SyntheticExecutor}, plus crash points.
 * Arguments: --db URL --synthetic SETTINGS --name NAME --lease-ms N --poll-ms N --backoff-ms N --threads N --once
 * --max-lost-leases N --halt-before-publish GLOB --halt-after-publish GLOB (halt the JVM, exit code 98/97, around the rename of a
 * matching output).
 */
public final class WorkerMain {
    private WorkerMain() {}

    public static void main(String[] args) throws Exception {
        String db = null;
        String synthetic = "";
        WorkerConfig config = WorkerConfig.defaults().withPoll(Duration.ofMillis(100))
                .withBackoff(Duration.ofMillis(100), Duration.ofSeconds(1)).withShutdownGrace(Duration.ofSeconds(5));
        PathMatcher haltBefore = null;
        PathMatcher haltAfter = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--db" -> db = args[++i];
                case "--synthetic" -> synthetic = args[++i];
                case "--name" -> config = config.withName(args[++i]);
                case "--lease-ms" -> config = config.withLease(Duration.ofMillis(Long.parseLong(args[++i])));
                case "--poll-ms" -> config = config.withPoll(Duration.ofMillis(Long.parseLong(args[++i])));
                case "--backoff-ms" -> config = config.withBackoff(Duration.ofMillis(Long.parseLong(args[++i])), Duration.ofSeconds(2));
                case "--threads" -> config = config.withThreads(Integer.parseInt(args[++i]));
                case "--once" -> config = config.withOnce(true);
                case "--max-lost-leases" -> config = config.withMaxLostLeases(Integer.parseInt(args[++i]));
                case "--halt-before-publish" -> haltBefore = FileSystems.getDefault().getPathMatcher("glob:" + args[++i]);
                case "--halt-after-publish" -> haltAfter = FileSystems.getDefault().getPathMatcher("glob:" + args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        QueueDatabase database = QueueDatabase.open(db, false);
        PathMatcher before = haltBefore;
        PathMatcher after = haltAfter;
        QueueWorker worker = new QueueWorker(database, ExecutorRegistry.synthetic(SyntheticExecutor.parse(synthetic)), config)
                .listener(new QueueWorker.Listener() {
                    @Override
                    public void beforePublish(long stepId, Path staging, Path output) {
                        if (before != null && before.matches(output.getFileName())) Runtime.getRuntime().halt(98);
                    }

                    @Override
                    public void afterPublish(long stepId, Path output) {
                        if (after != null && after.matches(output.getFileName())) Runtime.getRuntime().halt(97);
                    }
                });
        Runtime.getRuntime().addShutdownHook(new Thread(worker::shutdown, "requant-queue-shutdown"));
        System.out.println("worker " + config.name() + " ready");
        QueueWorker.Summary s = worker.run();
        System.out.println("worker " + config.name() + " " + s);
    }
}
