package dev.requant.queue;

import java.net.InetAddress;
import java.time.Duration;

/**
 * How a worker process runs.
 *
 * @param name          worker name stored with each lease (default host:pid); threads get "#1", "#2"... appended
 * @param threads       steps run at the same time by this process
 * @param lease         how long a lease lasts without a heartbeat; heartbeats come every third of it (at most 10 s apart). A dead worker's
 *                      step is taken over this long after its last heartbeat
 * @param poll          how often an idle worker looks for work
 * @param backoffBase   delay before the first retry of a failed step; doubled for each further attempt
 * @param backoffMax    longest retry delay
 * @param once          exit when nothing is left that could run, instead of waiting for new jobs
 * @param shutdownGrace on SIGTERM, how long running executors get to stop before their leases are released anyway
 * @param maxLostLeases  how many times a step's lease may expire (its worker killed, hung or cut off) before the step is
 *                       failed: lost leases do not use up attempts, but a step that kills every worker must end
 * @param giveUpAfter    with {@code once}: how long the database may stay unreachable before the worker stops with the
 *                       error (a worker without {@code once} keeps trying; a damaged database stops it at once)
 */
public record WorkerConfig(String name, int threads, Duration lease, Duration poll, Duration backoffBase,
                           Duration backoffMax, boolean once, Duration shutdownGrace, int maxLostLeases, Duration giveUpAfter) {
    public WorkerConfig {
        if (threads < 1) throw new IllegalArgumentException("--workers must be at least 1");
        if (lease.toMillis() < 300) throw new IllegalArgumentException("the lease must last at least 300 ms");
        if (maxLostLeases < 1) throw new IllegalArgumentException("maxLostLeases must be at least 1");
    }

    public static WorkerConfig defaults() {
        return new WorkerConfig(defaultName(), 1, Duration.ofSeconds(60), Duration.ofSeconds(2), Duration.ofSeconds(30),
                Duration.ofMinutes(30), false, Duration.ofSeconds(20), 10, Duration.ofMinutes(5));
    }

    public static String defaultName() {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            host = "localhost";
        }
        return host + ":" + ProcessHandle.current().pid();
    }

    public WorkerConfig withName(String v) { return new WorkerConfig(v, threads, lease, poll, backoffBase, backoffMax, once, shutdownGrace, maxLostLeases, giveUpAfter); }

    public WorkerConfig withThreads(int v) { return new WorkerConfig(name, v, lease, poll, backoffBase, backoffMax, once, shutdownGrace, maxLostLeases, giveUpAfter); }

    public WorkerConfig withLease(Duration v) { return new WorkerConfig(name, threads, v, poll, backoffBase, backoffMax, once, shutdownGrace, maxLostLeases, giveUpAfter); }

    public WorkerConfig withPoll(Duration v) { return new WorkerConfig(name, threads, lease, v, backoffBase, backoffMax, once, shutdownGrace, maxLostLeases, giveUpAfter); }

    public WorkerConfig withBackoff(Duration base, Duration max) { return new WorkerConfig(name, threads, lease, poll, base, max, once, shutdownGrace, maxLostLeases, giveUpAfter); }

    public WorkerConfig withOnce(boolean v) { return new WorkerConfig(name, threads, lease, poll, backoffBase, backoffMax, v, shutdownGrace, maxLostLeases, giveUpAfter); }

    public WorkerConfig withMaxLostLeases(int v) {
        return new WorkerConfig(name, threads, lease, poll, backoffBase, backoffMax, once, shutdownGrace, v, giveUpAfter);
    }

    public WorkerConfig withGiveUpAfter(Duration v) {
        return new WorkerConfig(name, threads, lease, poll, backoffBase, backoffMax, once, shutdownGrace, maxLostLeases, v);
    }

    public WorkerConfig withShutdownGrace(Duration v) { return new WorkerConfig(name, threads, lease, poll, backoffBase, backoffMax, once, v, maxLostLeases, giveUpAfter); }
}
