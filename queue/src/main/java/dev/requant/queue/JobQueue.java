package dev.requant.queue;

import dev.requant.queue.exec.StepKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * The user's side of the queue: add jobs, look at them, retry, cancel, read logs. Workers use {@link LeaseStore}.
 * Every change is one transaction.
 */
public final class JobQueue {
    private final QueueDatabase db;

    public JobQueue(QueueDatabase db) { this.db = db; }

    public QueueDatabase database() { return db; }

    /** A step of an added job: created by it, or shared with an earlier job (same output). */
    public record AddedStep(long id, StepKind kind, String type, Path output, boolean shared, StepState state) {}

    public record AddResult(long jobId, List<AddedStep> steps) {}

    /** Stores a checked job; steps whose output another job already produces are shared, not duplicated. */
    public AddResult add(JobPlan plan) throws SQLException, IOException {
        return Transactions.run(db, c -> {
            long now = db.now(c);
            StringBuilder types = new StringBuilder();
            for (QuantTarget t : plan.targets()) types.append(types.isEmpty() ? "" : ",").append(t.label());
            long jobId = Sql.insert(c, "INSERT INTO jobs (source, source_kind, model_name, out_dir, types, imatrix, imatrix_file,"
                            + " calibration, priority, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?)",
                    plan.source(), plan.sourceKind().name().toLowerCase(), plan.modelName(), plan.outDir(), types,
                    plan.imatrix().name().toLowerCase(), plan.imatrixFile(), plan.calibration(), plan.priority(), now);
            Map<Path, Long> ids = new HashMap<>();
            List<AddedStep> added = new ArrayList<>();
            for (PlannedStep ps : plan.steps()) {
                String type = ps.type() == null ? null : ps.type().name();
                long id;
                boolean shared;
                StepState state;
                try (PreparedStatement q = Sql.prepare(c, "SELECT id, kind, quant_type, input, imatrix, calibration, state, priority"
                        + " FROM steps WHERE output = ?", ps.output()); ResultSet rs = q.executeQuery()) {
                    if (rs.next()) {
                        id = rs.getLong("id");
                        shared = true;
                        state = StepState.ofLabel(rs.getString("state"));
                        String mismatch = mismatch(rs, ps);
                        if (mismatch != null) {
                            throw new JobRejectedException(ps.output() + ": already the output of step " + id + " with "
                                    + mismatch + "; pass another --out");
                        }
                        int priority = Math.max(rs.getInt("priority"), plan.priority());
                        if (state == StepState.FAILED || state == StepState.CANCELLED) {
                            // The new job needs it: give it a fresh set of attempts.
                            Sql.update(c, "UPDATE steps SET state = 'queued', attempts = 0, lost_leases = 0, not_before = 0, max_attempts = ?,"
                                            + " priority = ?, note = ?, updated_at = ? WHERE id = ?",
                                    plan.maxAttempts(), priority, "queued again by job " + jobId, now, id);
                            state = StepState.QUEUED;
                        } else {
                            Sql.update(c, "UPDATE steps SET priority = ?, updated_at = ? WHERE id = ?", priority, now, id);
                        }
                    } else {
                        // Another queue database writing into the same --out already owns this output: refuse now, not
                        // when the step has run for hours (a worker would refuse to overwrite it anyway).
                        Optional<OutputOwnership.Owner> owner = OutputOwnership.ownerOf(ps.output());
                        if (owner.isPresent() && !owner.get().queueId().equals(db.queueId()) && Files.exists(ps.output())) {
                            throw new JobRejectedException(ps.output() + ": already the output of step " + owner.get().stepId()
                                    + " of another queue (" + owner.get().database() + "); pass another --out");
                        }
                        id = Sql.insert(c, "INSERT INTO steps (kind, quant_type, input, imatrix, calibration, output, state,"
                                        + " priority, attempts, max_attempts, not_before, created_at, updated_at)"
                                        + " VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, 0, ?, 0, ?, ?)",
                                ps.kind().label(), type, ps.input(), ps.imatrix(), ps.calibration(), ps.output(),
                                plan.priority(), plan.maxAttempts(), now, now);
                        shared = false;
                        state = StepState.QUEUED;
                        for (Path dep : ps.dependsOn()) {
                            Long depId = ids.get(dep);
                            if (depId == null) throw new IllegalStateException("plan lists " + dep + " after its user");
                            Sql.update(c, "INSERT INTO step_deps (step_id, depends_on) VALUES (?, ?)", id, depId);
                        }
                    }
                }
                ids.put(ps.output(), id);
                Sql.update(c, "INSERT INTO job_steps (job_id, step_id) VALUES (?, ?)", jobId, id);
                added.add(new AddedStep(id, ps.kind(), type, ps.output(), shared, state));
            }
            return new AddResult(jobId, List.copyOf(added));
        });
    }

    private static String mismatch(ResultSet rs, PlannedStep ps) throws SQLException {
        if (!rs.getString("kind").equals(ps.kind().label())) return "kind " + rs.getString("kind");
        if (!Objects.equals(rs.getString("quant_type"), ps.type() == null ? null : ps.type().name())) return "type " + rs.getString("quant_type");
        if (!rs.getString("input").equals(ps.input().toString())) return "input " + rs.getString("input");
        if (!Objects.equals(rs.getString("imatrix"), str(ps.imatrix()))) return "imatrix " + rs.getString("imatrix");
        if (!Objects.equals(rs.getString("calibration"), str(ps.calibration()))) return "calibration " + rs.getString("calibration");
        return null;
    }

    private static String str(Path p) { return p == null ? null : p.toString(); }

    public QueueStatus status() throws SQLException {
        try (Connection c = db.connect()) {
            long now = db.now(c);
            Map<Long, QueueStatus.Job> jobs = new LinkedHashMap<>();
            try (PreparedStatement q = c.prepareStatement("SELECT * FROM jobs ORDER BY id"); ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    jobs.put(rs.getLong("id"), new QueueStatus.Job(rs.getLong("id"), rs.getString("source"),
                            rs.getString("model_name"), rs.getString("out_dir"), rs.getString("types"), rs.getString("imatrix"),
                            rs.getInt("priority"), rs.getString("state"), rs.getLong("created_at")));
                }
            }
            Map<Long, List<Long>> jobsOf = multimap(c, "SELECT step_id, job_id FROM job_steps ORDER BY step_id, job_id");
            Map<Long, List<Long>> depsOf = multimap(c, "SELECT step_id, depends_on FROM step_deps ORDER BY step_id, depends_on");
            Map<Long, Row> rows = new TreeMap<>();
            try (PreparedStatement q = c.prepareStatement("SELECT * FROM steps ORDER BY id"); ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    rows.put(rs.getLong("id"), new Row(rs.getLong("id"), knownKind(rs.getString("kind")), rs.getString("kind"),
                            rs.getString("quant_type"), StepState.ofLabel(rs.getString("state")), rs.getString("worker"),
                            rs.getInt("attempts"), rs.getInt("max_attempts"), rs.getInt("lost_leases"), Sql.doubleOrNull(rs, "progress"),
                            rs.getString("output"), Sql.longOrNull(rs, "output_size"), rs.getString("output_sha256"),
                            rs.getString("error"), rs.getString("note"), Sql.longOrNull(rs, "started_at"),
                            Sql.longOrNull(rs, "finished_at"), rs.getLong("not_before"), Sql.longOrNull(rs, "lease_until")));
                }
            }
            // A queued step is blocked when something it needs, directly or not, failed or was cancelled.
            Map<Long, Boolean> blocked = new HashMap<>();
            List<QueueStatus.Step> steps = new ArrayList<>();
            for (Row r : rows.values()) {
                List<Long> deps = depsOf.getOrDefault(r.id(), List.of());
                List<Long> js = jobsOf.getOrDefault(r.id(), List.of());
                String display = r.state().label();
                if (r.state() == StepState.DONE && r.note() != null && r.note().startsWith("skipped")) display = "skipped";
                if (r.state() == StepState.QUEUED) {
                    if (isBlocked(r.id(), rows, depsOf, blocked, new HashSet<>())) display = "blocked";
                    else if (deps.stream().anyMatch(d -> rows.get(d).state() != StepState.DONE)) display = "waiting";
                    else if (r.notBefore() > now) display = "retrying";
                }
                Long eta = null;
                if (r.state() == StepState.RUNNING && r.progress() != null && r.progress() > 0.001 && r.started() != null) {
                    double elapsed = Math.max(0, now - r.started()) / 1000.0;
                    eta = Math.round(elapsed * (1 - Math.min(1, r.progress())) / r.progress());
                }
                String model = js.isEmpty() || !jobs.containsKey(js.getFirst()) ? "?" : jobs.get(js.getFirst()).modelName();
                String type = r.kind() == null ? (r.type() != null ? r.type() : r.kindLabel()) : switch (r.kind()) {
                    case CONVERT -> "BF16";
                    case IMATRIX -> "imatrix";
                    case QUANTIZE -> r.type();
                };
                if (r.kind() == null && r.state() == StepState.QUEUED) display = "unknown kind";
                steps.add(new QueueStatus.Step(r.id(), js, model, r.kind(), r.kindLabel(), type, r.state(), display, r.worker(),
                        r.attempts(), r.maxAttempts(), r.lostLeases(), r.progress(), eta, r.output(), r.size(), r.sha(), r.error(),
                        r.note(), r.started(), r.finished(), r.notBefore(), r.leaseUntil(), deps));
            }
            return new QueueStatus(now, db.description(), jobStates(jobs.values(), steps), List.copyOf(steps));
        }
    }

    /**
     * A job's state as its steps tell it: "done" when every step is done, "failed" when nothing of it can run any more
     * because a step failed (the rest blocked or done), else the stored state ("active", "cancelled").
     */
    private static List<QueueStatus.Job> jobStates(java.util.Collection<QueueStatus.Job> jobs, List<QueueStatus.Step> steps) {
        List<QueueStatus.Job> out = new ArrayList<>();
        for (QueueStatus.Job j : jobs) {
            List<QueueStatus.Step> mine = steps.stream().filter(s -> s.jobs().contains(j.id())).toList();
            String state = j.state();
            if (state.equals("active") && !mine.isEmpty()) {
                if (mine.stream().allMatch(s -> s.state() == StepState.DONE)) state = "done";
                else if (mine.stream().anyMatch(s -> s.state() == StepState.FAILED)
                        && mine.stream().allMatch(s -> s.state().finished() || s.display().equals("blocked"))) state = "failed";
            }
            out.add(new QueueStatus.Job(j.id(), j.source(), j.modelName(), j.outDir(), j.types(), j.imatrix(), j.priority(), state,
                    j.createdAt()));
        }
        return List.copyOf(out);
    }

    private record Row(long id, StepKind kind, String kindLabel, String type, StepState state, String worker, int attempts,
                       int maxAttempts, int lostLeases, Double progress, String output, Long size, String sha, String error, String note, Long started,
                       Long finished, long notBefore, Long leaseUntil) {}

    /** The kind, or null for one this build does not know (a newer requant's, sharing the database). */
    private static StepKind knownKind(String label) {
        for (StepKind k : StepKind.values()) if (k.label().equals(label)) return k;
        return null;
    }

    private static boolean isBlocked(long id, Map<Long, Row> rows, Map<Long, List<Long>> depsOf,
                                         Map<Long, Boolean> memo, Set<Long> visiting) {
        Boolean known = memo.get(id);
        if (known != null) return known;
        if (!visiting.add(id)) return false;
        boolean b = false;
        for (long d : depsOf.getOrDefault(id, List.of())) {
            Row row = rows.get(d);
            StepState s = row == null ? null : row.state();
            if (s == StepState.FAILED || s == StepState.CANCELLED || isBlocked(d, rows, depsOf, memo, visiting)) {
                b = true;
                break;
            }
        }
        memo.put(id, b);
        return b;
    }

    private static Map<Long, List<Long>> multimap(Connection c, String sql) throws SQLException {
        Map<Long, List<Long>> m = new HashMap<>();
        try (PreparedStatement q = c.prepareStatement(sql); ResultSet rs = q.executeQuery()) {
            while (rs.next()) m.computeIfAbsent(rs.getLong(1), k -> new ArrayList<>()).add(rs.getLong(2));
        }
        return m;
    }

    // ---- retry ---------------------------------------------------------------------------------------------------

    /** Queues a failed or cancelled step again with a fresh set of attempts, and the cancelled steps that need it. */
    public int retryStep(long stepId) throws SQLException, IOException {
        return Transactions.run(db, c -> {
            StepState s = stateOf(c, stepId);
            if (s != StepState.FAILED && s != StepState.CANCELLED) {
                throw new JobRejectedException("step " + stepId + " is " + s.label() + "; only failed or cancelled steps can be retried");
            }
            long now = db.now(c);
            Sql.update(c, "UPDATE jobs SET state = 'active' WHERE id IN (SELECT job_id FROM job_steps WHERE step_id = ?)", stepId);
            int n = requeue(c, stepId, now, "retried");
            for (long d : dependents(c, stepId)) {
                if (stateOf(c, d) == StepState.CANCELLED) n += requeue(c, d, now, "retried with step " + stepId);
            }
            return n;
        });
    }

    /** Queues every failed or cancelled step of a job again (and the job, if it was cancelled). */
    public int retryJob(long jobId) throws SQLException, IOException {
        return Transactions.run(db, c -> {
            requireJob(c, jobId);
            long now = db.now(c);
            Sql.update(c, "UPDATE jobs SET state = 'active' WHERE id = ?", jobId);
            int n = 0;
            for (long id : ids(c, "SELECT s.id FROM steps s JOIN job_steps j ON j.step_id = s.id WHERE j.job_id = ?"
                    + " AND s.state IN ('failed', 'cancelled') ORDER BY s.id", jobId)) {
                n += requeue(c, id, now, "retried with job " + jobId);
            }
            return n;
        });
    }

    /** Queues every failed step again (cancelled ones stay cancelled). */
    public int retryFailed() throws SQLException, IOException {
        return Transactions.run(db, c -> {
            long now = db.now(c);
            int n = 0;
            for (long id : ids(c, "SELECT id FROM steps WHERE state = 'failed' ORDER BY id")) n += requeue(c, id, now, "retried");
            return n;
        });
    }

    private static int requeue(Connection c, long id, long now, String note) throws SQLException {
        return Sql.update(c, "UPDATE steps SET state = 'queued', attempts = 0, lost_leases = 0, not_before = 0, worker = NULL, lease_token = NULL,"
                + " lease_until = NULL, progress = NULL, note = ?, updated_at = ? WHERE id = ? AND state IN ('failed', 'cancelled')",
                note, now, id);
    }

    // ---- cancel --------------------------------------------------------------------------------------------------

    /**
     * Cancels a queued or running step and every unfinished step that needs it. A running step's lease is withdrawn:
     * its worker notices at the next heartbeat, stops the executor and discards the partial output.
     */
    public int cancelStep(long stepId) throws SQLException, IOException {
        return Transactions.run(db, c -> {
            StepState s = stateOf(c, stepId);
            if (s.finished()) throw new JobRejectedException("step " + stepId + " is already " + s.label());
            long now = db.now(c);
            int n = cancel(c, stepId, now, "cancelled by user");
            for (long d : dependents(c, stepId)) n += cancel(c, d, now, "cancelled with step " + stepId);
            return n;
        });
    }

    /** Cancels a job: its unfinished steps that no other active job needs. */
    public int cancelJob(long jobId) throws SQLException, IOException {
        return Transactions.run(db, c -> {
            requireJob(c, jobId);
            long now = db.now(c);
            Sql.update(c, "UPDATE jobs SET state = 'cancelled' WHERE id = ?", jobId);
            int n = 0;
            for (long id : ids(c, "SELECT s.id FROM steps s JOIN job_steps j ON j.step_id = s.id WHERE j.job_id = ?"
                    + " AND s.state IN ('queued', 'running') AND NOT EXISTS (SELECT 1 FROM job_steps o JOIN jobs oj ON oj.id = o.job_id"
                    + " WHERE o.step_id = s.id AND oj.state = 'active') ORDER BY s.id", jobId)) {
                n += cancel(c, id, now, "cancelled with job " + jobId);
            }
            return n;
        });
    }

    private static int cancel(Connection c, long id, long now, String note) throws SQLException {
        Sql.update(c, "UPDATE step_attempts SET outcome = 'cancelled', finished_at = ? WHERE step_id = ? AND outcome IS NULL", now, id);
        return Sql.update(c, "UPDATE steps SET state = 'cancelled', lease_token = NULL, lease_until = NULL, finished_at = ?,"
                + " note = ?, updated_at = ? WHERE id = ? AND state IN ('queued', 'running')", now, note, now, id);
    }

    /** Steps that need {@code id}, directly or not. */
    private static List<Long> dependents(Connection c, long id) throws SQLException {
        List<Long> out = new ArrayList<>();
        Set<Long> seen = new HashSet<>();
        Deque<Long> todo = new ArrayDeque<>(List.of(id));
        while (!todo.isEmpty()) {
            long cur = todo.pop();
            for (long d : ids(c, "SELECT step_id FROM step_deps WHERE depends_on = ? ORDER BY step_id", cur)) {
                if (seen.add(d)) {
                    out.add(d);
                    todo.push(d);
                }
            }
        }
        return out;
    }

    // ---- log -----------------------------------------------------------------------------------------------------

    public record Attempt(int attempt, String worker, long startedAt, Long finishedAt, String outcome, String error, String log) {}

    public record StepLog(QueueStatus.Step step, List<Attempt> attempts) {}

    /** Everything recorded about a step: its state and error, and each attempt with its log. */
    public StepLog log(long stepId) throws SQLException, IOException {
        QueueStatus.Step step = status().steps().stream().filter(s -> s.id() == stepId).findFirst()
                .orElseThrow(() -> new JobRejectedException("no step " + stepId + " in " + db.description()));
        List<Attempt> attempts = new ArrayList<>();
        try (Connection c = db.connect();
             PreparedStatement q = Sql.prepare(c, "SELECT * FROM step_attempts WHERE step_id = ? ORDER BY id", stepId);
             ResultSet rs = q.executeQuery()) {
            while (rs.next()) {
                attempts.add(new Attempt(rs.getInt("attempt"), rs.getString("worker"), rs.getLong("started_at"),
                        Sql.longOrNull(rs, "finished_at"), rs.getString("outcome"), rs.getString("error"), rs.getString("log")));
            }
        }
        return new StepLog(step, List.copyOf(attempts));
    }

    // ---- helpers -------------------------------------------------------------------------------------------------

    private StepState stateOf(Connection c, long stepId) throws SQLException, JobRejectedException {
        try (PreparedStatement q = Sql.prepare(c, "SELECT state FROM steps WHERE id = ?", stepId); ResultSet rs = q.executeQuery()) {
            if (!rs.next()) throw new JobRejectedException("no step " + stepId + " in " + db.description());
            return StepState.ofLabel(rs.getString(1));
        }
    }

    private void requireJob(Connection c, long jobId) throws SQLException, JobRejectedException {
        try (PreparedStatement q = Sql.prepare(c, "SELECT 1 FROM jobs WHERE id = ?", jobId); ResultSet rs = q.executeQuery()) {
            if (!rs.next()) throw new JobRejectedException("no job " + jobId + " in " + db.description());
        }
    }

    private static List<Long> ids(Connection c, String sql, Object... params) throws SQLException {
        List<Long> out = new ArrayList<>();
        try (PreparedStatement q = Sql.prepare(c, sql, params); ResultSet rs = q.executeQuery()) {
            while (rs.next()) out.add(rs.getLong(1));
        }
        return out;
    }
}
