package dev.requant.queue;

import dev.requant.formats.gguf.FileType;
import dev.requant.queue.exec.StepKind;
import java.io.IOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * The worker's side of the queue, on one connection: lease a runnable step, renew the lease, record the output, finish.
 *
 * <p>Leasing is one transaction that picks the best runnable step and marks it running with a fresh lease token. On
 * PostgreSQL the candidate row is locked with {@code SELECT ... FOR UPDATE SKIP LOCKED}, so concurrent workers on
 * several machines each get a different step without waiting for each other. On SQLite the transaction starts with
 * {@code BEGIN IMMEDIATE} (see {@link QueueDatabase}): it holds the single writer lock from the read to the update.
 *
 * <p>Runnable means queued, past its retry backoff, with every step it depends on done; or running with a lease that
 * expired (its worker died or lost the database): that step is taken over. Every later write of the holder names the
 * lease token, so a worker that lost its lease can no longer change the step.
 *
 * <p>A taken-over lease does not use up one of the step's attempts (the step did not fail; its worker was killed, hung
 * or cut off): it is counted in {@code lost_leases}, and only a step that loses {@code maxLostLeases} leases (one that
 * kills every worker that runs it) is failed for it. Steps of a kind or quantization type this build does not know (a
 * newer requant sharing the database) are never leased: they wait for a worker that knows them.
 */
final class LeaseStore implements AutoCloseable {
    private final QueueDatabase db;
    private final Connection c;

    /** A step whose output another step produces: checked before the step runs. */
    record Producer(long id, Path output, Long size) {}

    /** A leased step: what to run, and the token that proves the lease. */
    record Lease(long stepId, String token, String worker, int attempt, int maxAttempts, StepKind kind, FileType type,
                 Path input, Path imatrix, Path calibration, Path output, Long recordedSize, String recordedSha256,
                 List<Producer> producers, String takenOverFrom) {}

    LeaseStore(QueueDatabase db) throws SQLException {
        this.db = db;
        this.c = db.connect();
    }

    long now() throws SQLException { return db.now(c); }

    /** Steps this build can run: kinds and quantization types it knows (SQL literals from its own enums). */
    static final String KNOWN_KIND = "s.kind IN (" + literals(java.util.Arrays.stream(StepKind.values()).map(StepKind::label).toList())
            + ") AND (s.quant_type IS NULL OR s.quant_type IN (" + literals(java.util.Arrays.stream(FileType.values()).filter(FileType::producible).map(Enum::name).toList()) + "))";
    private static final String KNOWN = " AND " + KNOWN_KIND;

    /** The best runnable step of a kind this build knows and {@code can} takes. */
    private static String runnable(WorkerCapabilities can) {
        return """
            SELECT s.id, s.state, s.attempts, s.max_attempts, s.lost_leases, s.worker FROM steps s
            WHERE ((s.state = 'queued' AND s.not_before <= ?) OR (s.state = 'running' AND s.lease_until < ?))
              AND NOT EXISTS (SELECT 1 FROM step_deps d JOIN steps p ON p.id = d.depends_on
                              WHERE d.step_id = s.id AND p.state <> 'done')""" + KNOWN + " AND " + can.sqlCondition("s.kind") + """

            ORDER BY s.priority DESC, s.id
            LIMIT 1""";
    }

    private static String literals(List<String> values) {
        StringBuilder sb = new StringBuilder();
        for (String v : values) {
            if (!v.matches("[A-Za-z0-9_]+")) throw new IllegalStateException("not a plain name: " + v);
            sb.append(sb.isEmpty() ? "" : ", ").append('\'').append(v).append('\'');
        }
        return sb.toString();
    }

    /** Leases the best runnable step, or returns empty when there is none now. */
    Optional<Lease> claim(String worker, long leaseMillis, int maxLostLeases) throws SQLException, IOException {
        return claim(worker, leaseMillis, maxLostLeases, WorkerCapabilities.ALL);
    }

    /** Leases the best runnable step of a kind this worker takes, or returns empty when there is none now. */
    Optional<Lease> claim(String worker, long leaseMillis, int maxLostLeases, WorkerCapabilities can) throws SQLException, IOException {
        while (true) {
            Optional<Optional<Lease>> r = Transactions.run(c, c -> claimOnce(worker, leaseMillis, maxLostLeases, can));
            if (r.isPresent()) return r.get();
            // empty outer: a step that lost too many leases was failed instead; look again
        }
    }

    private Optional<Optional<Lease>> claimOnce(String worker, long leaseMillis, int maxLostLeases, WorkerCapabilities can) throws SQLException {
        long now = db.now(c);
        String sql = runnable(can) + (db.dialect() == QueueDatabase.Dialect.POSTGRESQL ? " FOR UPDATE OF s SKIP LOCKED" : "");
        long id;
        String previousWorker = null;
        boolean takeover;
        int attempts;
        int lostLeases;
        try (PreparedStatement q = Sql.prepare(c, sql, now, now); ResultSet rs = q.executeQuery()) {
            if (!rs.next()) return Optional.of(Optional.empty());
            id = rs.getLong("id");
            takeover = "running".equals(rs.getString("state"));
            attempts = rs.getInt("attempts");
            lostLeases = rs.getInt("lost_leases");
            if (takeover) previousWorker = rs.getString("worker");
        }
        if (takeover) {
            String why = "lease expired: worker " + previousWorker + " stopped renewing it (died, hung or lost the database)";
            Sql.update(c, "UPDATE step_attempts SET outcome = 'lease expired', error = ?, finished_at = ?"
                    + " WHERE step_id = ? AND outcome IS NULL", why, now, id);
            int lost = lostLeases + 1;
            if (lost >= maxLostLeases) {
                Sql.update(c, "UPDATE steps SET state = 'failed', lost_leases = ?, error = ?, lease_token = NULL, lease_until = NULL,"
                        + " finished_at = ?, updated_at = ? WHERE id = ?", lost,
                        why + "; its lease was lost " + lost + " times (limit " + maxLostLeases + "): the step may be what kills its workers",
                        now, now, id);
                return Optional.empty();
            }
            // the attempt that lost its lease did not fail: it is given back, and counted as a lost lease instead
            Sql.update(c, "UPDATE steps SET lost_leases = ?, attempts = ? WHERE id = ?", lost, Math.max(0, attempts - 1), id);
            attempts = Math.max(0, attempts - 1);
        }
        String token = UUID.randomUUID().toString();
        Sql.update(c, "UPDATE steps SET state = 'running', worker = ?, lease_token = ?, lease_until = ?, heartbeat_at = ?,"
                + " started_at = ?, finished_at = NULL, attempts = attempts + 1, progress = 0, updated_at = ? WHERE id = ?",
                worker, token, now + leaseMillis, now, now, now, id);
        Sql.insert(c, "INSERT INTO step_attempts (step_id, attempt, worker, lease_token, started_at) VALUES (?, ?, ?, ?, ?)",
                id, attempts + 1, worker, token, now);
        Lease lease;
        try (PreparedStatement q = Sql.prepare(c, "SELECT * FROM steps WHERE id = ?", id); ResultSet rs = q.executeQuery()) {
            rs.next();
            String type = rs.getString("quant_type");
            lease = new Lease(id, token, worker, rs.getInt("attempts"), rs.getInt("max_attempts"),
                    StepKind.ofLabel(rs.getString("kind")), type == null ? null : FileType.valueOf(type),
                    Path.of(rs.getString("input")), path(rs.getString("imatrix")), path(rs.getString("calibration")),
                    Path.of(rs.getString("output")), Sql.longOrNull(rs, "output_size"), rs.getString("output_sha256"),
                    producers(id), takeover ? previousWorker : null);
        }
        return Optional.of(Optional.of(lease));
    }

    private List<Producer> producers(long id) throws SQLException {
        List<Producer> out = new ArrayList<>();
        try (PreparedStatement q = Sql.prepare(c, "SELECT p.id, p.output, p.output_size FROM step_deps d JOIN steps p"
                + " ON p.id = d.depends_on WHERE d.step_id = ? ORDER BY p.id", id); ResultSet rs = q.executeQuery()) {
            while (rs.next()) out.add(new Producer(rs.getLong(1), Path.of(rs.getString(2)), Sql.longOrNull(rs, "output_size")));
        }
        return out;
    }

    private static Path path(String s) { return s == null ? null : Path.of(s); }

    /** Extends the lease and stores progress and log; false when the lease is gone (taken over or cancelled). */
    boolean heartbeat(Lease l, long leaseMillis, Double progress, String log) throws SQLException {
        long now = db.now(c);
        int n = Sql.update(c, "UPDATE steps SET lease_until = ?, heartbeat_at = ?, progress = ?, updated_at = ?"
                + " WHERE id = ? AND lease_token = ? AND state = 'running'", now + leaseMillis, now, progress, now, l.stepId(), l.token());
        if (n == 1 && log != null) {
            Sql.update(c, "UPDATE step_attempts SET log = ? WHERE step_id = ? AND lease_token = ?", log, l.stepId(), l.token());
        }
        return n == 1;
    }

    /** Records the size and SHA-256 of the complete output before it is renamed into place. */
    boolean recordOutput(Lease l, long size, String sha256) throws SQLException {
        long now = db.now(c);
        return Sql.update(c, "UPDATE steps SET output_size = ?, output_sha256 = ?, updated_at = ?"
                + " WHERE id = ? AND lease_token = ? AND state = 'running'", size, sha256, now, l.stepId(), l.token()) == 1;
    }

    /** Marks the step done; {@code outcome} is "done" or "skipped". False when the lease was lost meanwhile. */
    boolean complete(Lease l, String outcome, String note, String log) throws SQLException, IOException {
        return Transactions.run(c, c -> {
            long now = db.now(c);
            int n = Sql.update(c, "UPDATE steps SET state = 'done', progress = 1, finished_at = ?, lease_token = NULL,"
                    + " lease_until = NULL, error = NULL, note = ?, updated_at = ? WHERE id = ? AND lease_token = ? AND state = 'running'",
                    now, note, now, l.stepId(), l.token());
            if (n == 1) closeAttempt(l, outcome, null, log, now);
            return n == 1;
        });
    }

    /**
     * Records a failed attempt. The step is queued again after {@code base * 2^(attempt-1)} (at most {@code max}),
     * or failed for good once it has used its attempts or when {@code giveUp}. Returns the new state, or null when the lease was lost.
     */
    StepState fail(Lease l, String error, String log, boolean giveUp, long backoffBaseMillis, long backoffMaxMillis)
            throws SQLException, IOException {
        return Transactions.run(c, c -> {
            long now = db.now(c);
            boolean last = giveUp || l.attempt() >= l.maxAttempts();
            long delay = Math.min(backoffMaxMillis, backoffBaseMillis << Math.min(30, l.attempt() - 1));
            int n = last
                    ? Sql.update(c, "UPDATE steps SET state = 'failed', error = ?, lease_token = NULL, lease_until = NULL,"
                            + " finished_at = ?, updated_at = ? WHERE id = ? AND lease_token = ? AND state = 'running'",
                            error, now, now, l.stepId(), l.token())
                    : Sql.update(c, "UPDATE steps SET state = 'queued', error = ?, not_before = ?, lease_token = NULL,"
                            + " lease_until = NULL, updated_at = ? WHERE id = ? AND lease_token = ? AND state = 'running'",
                            error, now + delay, now, l.stepId(), l.token());
            if (n == 0) return null;
            closeAttempt(l, "failed", error, log, now);
            return last ? StepState.FAILED : StepState.QUEUED;
        });
    }

    /** Gives the step back without counting the attempt (worker shutting down, or an input must be rebuilt first). */
    boolean release(Lease l, String reason, String log) throws SQLException, IOException {
        return Transactions.run(c, c -> {
            long now = db.now(c);
            int n = Sql.update(c, "UPDATE steps SET state = 'queued', attempts = attempts - 1, worker = NULL, lease_token = NULL,"
                    + " lease_until = NULL, progress = NULL, note = ?, updated_at = ? WHERE id = ? AND lease_token = ? AND state = 'running'",
                    reason, now, l.stepId(), l.token());
            if (n == 1) closeAttempt(l, "released", reason, log, now);
            return n == 1;
        });
    }

    /** A done step whose output went missing or changed: queue it again so the steps that need it can run. */
    void requeueProducer(long producerId, String note) throws SQLException {
        long now = db.now(c);
        Sql.update(c, "UPDATE steps SET state = 'queued', attempts = 0, lost_leases = 0, not_before = 0, output_size = NULL, output_sha256 = NULL,"
                + " note = ?, updated_at = ? WHERE id = ? AND state = 'done'", note, now, producerId);
    }

    private void closeAttempt(Lease l, String outcome, String error, String log, long now) throws SQLException {
        Sql.update(c, "UPDATE step_attempts SET outcome = ?, error = ?, log = ?, finished_at = ?"
                + " WHERE step_id = ? AND lease_token = ?", outcome, error, log, now, l.stepId(), l.token());
    }

    /** The step's stored state (to tell a user's cancel from a takeover when a lease is lost). */
    StepState state(long stepId) throws SQLException {
        try (PreparedStatement q = Sql.prepare(c, "SELECT state FROM steps WHERE id = ?", stepId); ResultSet rs = q.executeQuery()) {
            return rs.next() ? StepState.ofLabel(rs.getString(1)) : null;
        }
    }

    /**
     * Whether anything can still run: a running step (it may finish and unblock others, or its lease may expire) or a
     * queued step of a kind this build runs none of whose prerequisites, direct or not, failed or was cancelled.
     */
    boolean hasPendingWork() throws SQLException {
        return hasPendingWork(WorkerCapabilities.ALL);
    }

    /**
     * Whether a step of a kind this worker takes is queued or running and not blocked: by a failed step, by a queued
     * step this build cannot run, or by a queued step of a kind this worker does not take (an imatrix step no GPU
     * worker has started), which it cannot run itself.
     */
    boolean hasPendingWork(WorkerCapabilities can) throws SQLException {
        String sql = "WITH RECURSIVE blocked(id) AS ("
                + " SELECT s.id FROM steps s WHERE s.state IN ('failed', 'cancelled') OR (s.state = 'queued' AND NOT (" + KNOWN_KIND
                + " AND " + can.sqlCondition("s.kind") + "))"
                + " UNION SELECT d.step_id FROM step_deps d JOIN blocked b ON d.depends_on = b.id)"
                + " SELECT COUNT(*) FROM steps s WHERE s.state IN ('queued', 'running') AND s.id NOT IN (SELECT id FROM blocked)"
                + " AND " + can.sqlCondition("s.kind");
        try (PreparedStatement q = c.prepareStatement(sql); ResultSet rs = q.executeQuery()) {
            rs.next();
            return rs.getLong(1) > 0;
        }
    }

    @Override
    public void close() {
        try {
            c.close();
        } catch (SQLException ignored) {
            // closing a broken connection
        }
    }
}
