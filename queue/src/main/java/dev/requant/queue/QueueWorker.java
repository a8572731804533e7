package dev.requant.queue;

import dev.requant.formats.FormatException;
import dev.requant.queue.exec.BadStepInputException;
import dev.requant.formats.TerminalText;
import dev.requant.formats.io.AtomicFile;
import dev.requant.queue.LeaseStore.Lease;
import dev.requant.queue.LeaseStore.Producer;
import dev.requant.queue.exec.ExecutorRegistry;
import dev.requant.queue.exec.StepContext;
import dev.requant.queue.exec.StepWork;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A worker process: {@link WorkerConfig#threads()} threads that lease steps and run them, and one heartbeat thread that
 * renews the leases, stores progress and logs, and stops an executor whose lease was lost (cancelled by the user, or
 * taken over after the database was unreachable for longer than a lease).
 *
 * <p>One step, start to end: lease it; if its output is already in place with the SHA-256 recorded by an earlier
 * attempt, mark it done ("skipped"); remove what a dead worker left in its staging file; check that its inputs are
 * the files their steps recorded (or queue those steps again); run the executor into the staging file; sync it,
 * record its size and SHA-256 in the database, rename it into place ({@link AtomicFile#moveIntoPlace}); mark the step
 * done. A crash at any point leaves either no output or a complete, recorded one.
 *
 * <p>Shutdown (SIGTERM, through a shutdown hook installed by the caller, see {@link #shutdown()}): running steps are
 * cancelled and their leases released at once (the step goes back to the queue, the attempt does not count), so
 * another worker can start it without waiting for the lease to expire. Steps can run for hours, so waiting for them
 * to finish is not the default.
 *
 * <p>Outputs are owned ({@link OutputOwnership}): a step whose output exists and belongs to another queue (or to no
 * queue) fails at once instead of overwriting it. A database error is retried (a server restart, a lock timeout);
 * one that cannot get better (a damaged SQLite file, a missing table) stops the worker with the error, and so does
 * any database error that lasts longer than {@link WorkerConfig#giveUpAfter()} in {@code once} mode.
 */
public final class QueueWorker {
    private static final Logger log = LoggerFactory.getLogger(QueueWorker.class);

    /** Hooks around publishing an output (tests use them to crash a worker at exact points). */
    public interface Listener {
        default void beforePublish(long stepId, Path staging, Path output) {}

        default void afterPublish(long stepId, Path output) {}
    }

    /** What this worker did. {@code lost}: leases lost to a cancel or a takeover while running. */
    public record Summary(int done, int skipped, int failed, int retrying, int released, int lost) {}

    private final QueueDatabase db;
    private final ExecutorRegistry executors;
    private final WorkerConfig config;
    private Listener listener = new Listener() {};

    private final Map<Long, Running> running = new ConcurrentHashMap<>();
    private final CountDownLatch finished = new CountDownLatch(1);
    private volatile boolean stopping;
    private final Object idle = new Object();  // idle threads wait here; a finished step wakes them (it may unblock others)
    private final AtomicInteger done = new AtomicInteger(), skipped = new AtomicInteger(), failed = new AtomicInteger(),
            retrying = new AtomicInteger(), released = new AtomicInteger(), lost = new AtomicInteger();
    /** The database error that stopped the worker, if one did. */
    private volatile SQLException fatal;

    public QueueWorker(QueueDatabase db, ExecutorRegistry executors, WorkerConfig config) {
        this.db = db;
        this.executors = executors;
        this.config = config;
    }

    public QueueWorker listener(Listener l) {
        this.listener = l;
        return this;
    }

    private WorkerCapabilities capabilities = WorkerCapabilities.ALL;

    /** The step kinds this worker takes (default: all); imatrix steps are for workers with a GPU. */
    public QueueWorker capabilities(WorkerCapabilities c) {
        this.capabilities = c;
        return this;
    }

    /**
     * Runs until {@link #shutdown()} or, with {@code once}, until nothing is left that could run.
     *
     * @throws SQLException the database error that stopped the worker: a damaged database, or (with {@code once}) one
     *     unreachable for longer than {@link WorkerConfig#giveUpAfter()}
     */
    public Summary run() throws InterruptedException, SQLException {
        long leaseMillis = config.lease().toMillis();
        ScheduledExecutorService heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "requant-heartbeat");
            t.setDaemon(true);
            return t;
        });
        Heartbeat beat = new Heartbeat();
        // A third of the lease leaves two chances to renew it; at most 10 s apart so that progress stays fresh.
        long period = Math.min(leaseMillis / 3, 10_000);
        heartbeat.scheduleWithFixedDelay(beat, period, period, TimeUnit.MILLISECONDS);
        List<Thread> threads = new ArrayList<>();
        try {
            for (int i = 1; i <= config.threads(); i++) {
                String name = config.threads() == 1 ? config.name() : config.name() + "#" + i;
                Thread t = new Thread(() -> loop(name), "requant-worker-" + i);
                t.setDaemon(true);
                threads.add(t);
                t.start();
            }
            for (Thread t : threads) t.join();
        } finally {
            heartbeat.shutdownNow();
            heartbeat.awaitTermination(5, TimeUnit.SECONDS);
            beat.close();
            finished.countDown();
        }
        if (fatal != null) throw fatal;
        return new Summary(done.get(), skipped.get(), failed.get(), retrying.get(), released.get(), lost.get());
    }

    /**
     * Stops the worker: no new leases; running executors are cancelled, and their leases released (the steps are queued
     * again without counting the attempt). Waits up to {@link WorkerConfig#shutdownGrace()} for the executors to stop,
     * then releases what is still held directly. Safe to call from a shutdown hook.
     */
    public void shutdown() {
        stopping = true;
        for (Running r : running.values()) r.cancel("worker " + config.name() + " is shutting down", false);
        try {
            if (finished.await(config.shutdownGrace().toMillis(), TimeUnit.MILLISECONDS)) return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (running.isEmpty()) return;
        try (LeaseStore store = new LeaseStore(db)) {
            for (Running r : running.values()) {
                r.log.line("executor did not stop within " + config.shutdownGrace().toSeconds() + " s; releasing the lease");
                if (store.release(r.lease, "worker " + config.name() + " shut down before the step finished", r.log.text())) {
                    released.incrementAndGet();
                    log.info("step {}: lease released (shutdown)", r.lease.stepId());
                }
            }
        } catch (SQLException | IOException e) {
            log.warn("could not release leases at shutdown ({}); they expire in {} s", e.getMessage(), config.lease().toSeconds());
        }
    }

    private void loop(String name) {
        LeaseStore store = null;
        long dbErrorSince = 0;
        int errorsInARow = 0;
        while (!stopping) {
            long wait = config.poll().toMillis();
            try {
                if (store == null) store = new LeaseStore(db);
                Optional<Lease> lease = store.claim(name, config.lease().toMillis(), config.maxLostLeases(), capabilities);
                dbErrorSince = 0;
                errorsInARow = 0;
                if (lease.isPresent()) {
                    runStep(store, lease.get());
                    continue;
                }
                if (config.once() && !store.hasPendingWork(capabilities)) break;
            } catch (SQLException | IOException e) {
                if (stopping) break;
                if (dbErrorSince == 0) dbErrorSince = System.nanoTime();
                errorsInARow++;
                if (store != null) store.close();
                store = null;
                SQLException sql = e instanceof SQLException x ? x : null;
                boolean permanent = sql != null && QueueDatabase.permanent(sql);
                boolean tooLong = config.once() && System.nanoTime() - dbErrorSince > config.giveUpAfter().toNanos();
                if (permanent || tooLong) {
                    String why = permanent ? "the database cannot be used (" + e.getMessage() + "); retrying would not help"
                            : "the database has been failing for " + Sizes.duration(config.giveUpAfter().toSeconds()) + " (" + e.getMessage() + ")";
                    stop(new SQLException(db.description() + ": " + why, sql != null ? sql.getSQLState() : null, e));
                    break;
                }
                log.warn("{}: database error ({}); trying again", name, TerminalText.escape(e.getMessage()));
                // back off while the errors last: a restarting server is not helped by a poll every few ms
                wait = Math.min(30_000, config.poll().toMillis() << Math.min(5, errorsInARow - 1));
            } catch (RuntimeException e) {
                // a bug, not the database: stop the whole worker with it rather than lose this thread silently
                stop(new SQLException(db.description() + ": worker " + name + " stopped by an internal error: " + e, e));
                break;
            }
            try {
                synchronized (idle) {
                    idle.wait(wait);
                }
            } catch (InterruptedException e) {
                if (stopping) break;
            }
        }
        if (store != null) store.close();
    }

    /** Stops every thread of this worker because of {@code error} (the first one wins); run() throws it. */
    private void stop(SQLException error) {
        synchronized (this) {
            if (fatal == null) fatal = error;
        }
        log.error("{}", TerminalText.escape(error.getMessage()));
        stopping = true;
        synchronized (idle) {
            idle.notifyAll();
        }
    }

    private void runStep(LeaseStore store, Lease lease) throws SQLException, IOException {
        long id = lease.stepId();
        Running r = new Running(lease);
        running.put(id, r);
        if (stopping) r.cancel("worker " + config.name() + " is shutting down", false);  // leased as shutdown began
        String what = describe(lease);
        r.log.line("attempt " + lease.attempt() + " of " + lease.maxAttempts() + " on " + lease.worker()
                + (lease.takenOverFrom() != null ? " (taken over from " + lease.takenOverFrom() + ", whose lease expired)" : ""));
        log.info("step {} ({}): started, attempt {}/{}", id, what, lease.attempt(), lease.maxAttempts());
        long start = System.nanoTime();
        Path out = lease.output();
        Path staging = StagingFiles.stagingFor(out, db.queueId(), id, lease.token());
        try {
            if (alreadyThere(lease, r)) {
                if (store.complete(lease, "skipped", "skipped: output already in place with the recorded SHA-256", r.log.text())) {
                    skipped.incrementAndGet();
                    log.info("step {} ({}): output already in place, verified; skipped", id, what);
                } else {
                    leaseLost(store, r);
                }
                return;
            }
            Optional<String> taken = OutputOwnership.conflict(out, db.queueId(), id);
            if (taken.isPresent()) throw new OutputOwnership.Refused(taken.get());  // before hours of work, not after
            int debris = StagingFiles.removeDebris(out, db.queueId(), id);
            if (debris > 0) r.log.line("removed " + debris + " unfinished file(s) of an earlier attempt");
            for (Producer p : lease.producers()) {
                if (!Files.isRegularFile(p.output()) || (p.size() != null && Files.size(p.output()) != p.size())) {
                    String why = "input " + p.output() + " (output of step " + p.id() + ") is missing or changed; step "
                            + p.id() + " is queued again";
                    r.log.line(why);
                    store.requeueProducer(p.id(), "queued again: its output was missing or changed when step " + id + " needed it");
                    if (store.release(lease, why, r.log.text())) released.incrementAndGet();
                    log.warn("step {} ({}): {}", id, what, TerminalText.escape(why));
                    return;
                }
            }
            if (r.cancelled) throw new CancellationException(r.cancelReason);
            r.executing = true;
            try {
                executors.execute(work(lease, staging), r.context());
            } finally {
                r.executing = false;
                Thread.interrupted();
            }
            if (r.lost) throw new CancellationException(r.cancelReason);
            if (!Files.isRegularFile(staging)) {
                throw new IOException("the " + lease.kind().label() + " executor returned without writing its output " + staging);
            }
            OutputDigest digest = OutputDigest.of(staging);
            r.log.line("output complete: " + digest.size() + " bytes, sha256 " + digest.sha256());
            if (!store.recordOutput(lease, digest.size(), digest.sha256())) {
                StagingFiles.removeOwn(staging);
                leaseLost(store, r);
                return;
            }
            listener.beforePublish(id, staging, out);
            OutputOwnership.publish(staging, out, db.queueId(), id, db.description());
            listener.afterPublish(id, out);
            r.log.line("renamed into place: " + out);
            if (store.complete(lease, "done", null, r.log.text())) {
                done.incrementAndGet();
                log.info("step {} ({}): done in {} ({})", id, what, Sizes.duration((System.nanoTime() - start) / 1_000_000_000L),
                        Sizes.human(digest.size()));
            } else {
                leaseLost(store, r);
            }
        } catch (SQLException e) {
            throw e;  // the database is gone: the lease expires and the step is taken over; the loop reconnects
        } catch (Throwable t) {
            Thread.interrupted();
            removeDebrisQuietly(staging);
            onFailure(store, r, t, what);
        } finally {
            running.remove(id);
            synchronized (idle) {
                idle.notifyAll();
            }
        }
    }

    private boolean alreadyThere(Lease lease, Running r) throws IOException {
        Path out = lease.output();
        if (lease.recordedSha256() == null || !Files.isRegularFile(out)) return false;
        if (lease.recordedSize() != null && Files.size(out) != lease.recordedSize()) return false;
        r.log.line("output exists and an earlier attempt recorded its SHA-256; verifying " + out);
        boolean same = OutputDigest.of(out).sha256().equals(lease.recordedSha256());
        if (!same) r.log.line("SHA-256 differs from the recorded one; running the step again");
        return same;
    }

    private void onFailure(LeaseStore store, Running r, Throwable t, String what) throws SQLException, IOException {
        Lease lease = r.lease;
        if (r.lost) {
            leaseLost(store, r);
            return;
        }
        if (stopping) {
            r.log.line("stopped: " + r.cancelReason);
            if (store.release(lease, "released: worker " + config.name() + " shut down (SIGTERM) before the step finished",
                    r.log.text())) {
                released.incrementAndGet();
                log.info("step {} ({}): stopped, lease released", lease.stepId(), what);
            }
            return;
        }
        String error = message(t);
        StringWriter trace = new StringWriter();
        t.printStackTrace(new PrintWriter(trace));
        r.log.line("failed: " + trace);
        // Bad input files, missing executors and outputs owned by someone else do not get better by waiting: fail at
        // once instead of retrying.
        boolean permanent = t instanceof BadStepInputException || t instanceof FormatException || t instanceof UnsupportedOperationException
                || t instanceof OutputOwnership.Refused;
        if (permanent) r.log.line("not retried: " + t.getClass().getSimpleName() + " is permanent");
        StepState s = store.fail(lease, error, r.log.text(), permanent, config.backoffBase().toMillis(), config.backoffMax().toMillis());
        if (s == StepState.FAILED) {
            failed.incrementAndGet();
            log.warn("step {} ({}): failed for good after {} attempts: {}", lease.stepId(), what, lease.attempt(), TerminalText.escape(error));
        } else if (s == StepState.QUEUED) {
            retrying.incrementAndGet();
            log.warn("step {} ({}): attempt {} failed, will retry: {}", lease.stepId(), what, lease.attempt(), TerminalText.escape(error));
        } else {
            leaseLost(store, r);
        }
    }

    private void leaseLost(LeaseStore store, Running r) throws SQLException {
        lost.incrementAndGet();
        StepState s = store.state(r.lease.stepId());
        log.warn("step {}: lease lost ({}); result discarded", r.lease.stepId(),
                s == StepState.CANCELLED ? "cancelled" : "taken over by another worker");
    }

    private static String message(Throwable t) {
        String m = t.getMessage();
        if (t instanceof CancellationException) return "cancelled: " + m;
        return m == null || m.isBlank() ? t.getClass().getSimpleName() : m;
    }

    private static void removeDebrisQuietly(Path staging) {
        try {
            StagingFiles.removeOwn(staging);
        } catch (IOException ignored) {
            // the next holder of the lease removes it
        }
    }

    /** The step for log lines (file names escaped: they go to a terminal). */
    static String describe(Lease l) {
        return TerminalText.escape(switch (l.kind()) {
            case CONVERT -> "convert " + l.input().getFileName();
            case IMATRIX -> "imatrix " + l.input().getFileName();
            case QUANTIZE -> "quantize " + l.type() + " " + l.input().getFileName();
        });
    }

    private static StepWork work(Lease l, Path staging) {
        return switch (l.kind()) {
            case CONVERT -> new StepWork.Convert(l.input(), staging);
            case IMATRIX -> new StepWork.Imatrix(l.input(), l.calibration(), staging);
            case QUANTIZE -> new StepWork.Quantize(l.input(), l.type(), Optional.ofNullable(l.imatrix()), staging);
        };
    }

    /** A step this process is running. */
    private final class Running {
        final Lease lease;
        final Thread thread = Thread.currentThread();
        final StepLogBuffer log = new StepLogBuffer();
        volatile double progress;
        volatile boolean executing;
        volatile boolean cancelled;
        volatile boolean lost;
        volatile String cancelReason;
        volatile long lastBeat = System.nanoTime();

        Running(Lease lease) { this.lease = lease; }

        void cancel(String reason, boolean leaseLost) {
            cancelReason = reason;
            lost |= leaseLost;
            cancelled = true;
            if (executing) thread.interrupt();
        }

        StepContext context() {
            PrintWriter writer = log.writer();
            return new StepContext() {
                @Override public long stepId() { return lease.stepId(); }

                @Override public int attempt() { return lease.attempt(); }

                @Override public String worker() { return lease.worker(); }

                @Override public Path finalOutput() { return lease.output(); }

                @Override public void progress(double fraction) { progress = Math.max(0, Math.min(1, fraction)); }

                @Override public void log(String line) { log.line(line); }

                @Override public PrintWriter logWriter() { return writer; }

                @Override public boolean cancelled() { return cancelled; }
            };
        }
    }

    /** Renews every lease this process holds, on its own connection. */
    private final class Heartbeat implements Runnable, AutoCloseable {
        private LeaseStore store;

        @Override
        public void run() {
            for (Running r : running.values()) {
                if (r.cancelled) continue;
                try {
                    if (store == null) store = new LeaseStore(db);
                    if (store.heartbeat(r.lease, config.lease().toMillis(), r.progress, r.log.textIfChanged())) {
                        r.lastBeat = System.nanoTime();
                    } else {
                        StepState s = store.state(r.lease.stepId());
                        r.cancel(s == StepState.CANCELLED ? "cancelled by user" : "lease lost: the step was taken over", true);
                    }
                } catch (SQLException | RuntimeException e) {
                    log.warn("heartbeat for step {} failed: {}", r.lease.stepId(), e.getMessage());
                    if (store != null) store.close();
                    store = null;
                    if (System.nanoTime() - r.lastBeat > config.lease().toNanos()) {
                        r.cancel("could not renew the lease for longer than it lasts; another worker may take the step over", true);
                    }
                }
            }
        }

        @Override
        public void close() {
            if (store != null) store.close();
        }
    }
}
