package dev.requant.queue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.queue.exec.StepKind;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/** A snapshot of the queue for {@code queue status}: every step with its derived display state, and totals. */
public record QueueStatus(long now, String database, List<Job> jobs, List<Step> steps) {

    public record Job(long id, String source, String modelName, String outDir, String types, String imatrix,
                      int priority, String state, long createdAt) {}

    /**
     * One step. {@code display} refines the stored state: "waiting" (queued behind unfinished steps), "blocked" (a step
     * it needs failed or was cancelled), "retrying" (queued, backing off after a failure), "skipped" (done without
     * running because its output was already there with the recorded SHA-256), "unknown kind" (queued by a newer
     * requant: this build's workers leave it to workers that know it). {@code kind} is null for such a step;
     * {@code kindLabel} is the stored name either way. {@code lostLeases}: leases that expired while it ran (its
     * workers were killed or cut off), which do not count as attempts.
     */
    public record Step(long id, List<Long> jobs, String modelName, StepKind kind, String kindLabel, String type, StepState state,
                       String display, String worker, int attempts, int maxAttempts, int lostLeases, Double progress,
                       Long etaSeconds, String output, Long outputSize, String outputSha256, String error,
                       String note, Long startedAt, Long finishedAt, long notBefore, Long leaseUntil,
                       List<Long> dependsOn) {}

    /** Steps per display state, in a fixed order. */
    public Map<String, Integer> counts() {
        Map<String, Integer> m = new LinkedHashMap<>();
        for (String s : List.of("done", "skipped", "running", "queued", "waiting", "retrying", "blocked", "failed", "cancelled", "unknown kind")) {
            m.put(s, 0);
        }
        for (Step s : steps) m.merge(s.display(), 1, Integer::sum);
        return m;
    }

    /** Bytes of all finished outputs. */
    public long outputBytes() {
        return steps.stream().filter(s -> s.state() == StepState.DONE && s.outputSize() != null).mapToLong(Step::outputSize).sum();
    }

    public List<String> activeWorkers() {
        return List.copyOf(new TreeSet<>(steps.stream().filter(s -> s.state() == StepState.RUNNING && s.worker() != null)
                .map(Step::worker).toList()));
    }

    /** True when nothing is queued or running that could still run. */
    public boolean drained() {
        return steps.stream().noneMatch(s -> s.state() == StepState.RUNNING
                || (s.state() == StepState.QUEUED && !s.display().equals("blocked") && !s.display().equals("unknown kind")));
    }

    /** e.g. "2 jobs, 9 steps: 5 done, 1 running, 3 waiting; 1 worker; 1.2 GiB written". */
    public String summaryLine() {
        StringBuilder sb = new StringBuilder();
        sb.append(jobs.size()).append(jobs.size() == 1 ? " job, " : " jobs, ");
        sb.append(steps.size()).append(steps.size() == 1 ? " step" : " steps");
        StringBuilder parts = new StringBuilder();
        for (var e : counts().entrySet()) {
            if (e.getValue() == 0) continue;
            if (!parts.isEmpty()) parts.append(", ");
            parts.append(e.getValue()).append(' ').append(e.getKey());
        }
        if (!parts.isEmpty()) sb.append(": ").append(parts);
        int w = activeWorkers().size();
        sb.append("; ").append(w).append(w == 1 ? " worker busy" : " workers busy");
        sb.append("; ").append(Sizes.human(outputBytes())).append(" written");
        return sb.toString();
    }

    public ObjectNode toJson(ObjectMapper json) {
        ObjectNode root = json.createObjectNode();
        root.put("database", database);
        root.put("now", now);
        ObjectNode summary = root.putObject("summary");
        summary.put("jobs", jobs.size());
        summary.put("steps", steps.size());
        counts().forEach(summary::put);
        summary.put("output_bytes", outputBytes());
        summary.put("drained", drained());
        ArrayNode workers = summary.putArray("workers_busy");
        activeWorkers().forEach(workers::add);
        ArrayNode js = root.putArray("jobs");
        for (Job j : jobs) {
            ObjectNode n = js.addObject();
            n.put("id", j.id());
            n.put("source", j.source());
            n.put("model", j.modelName());
            n.put("out_dir", j.outDir());
            n.put("types", j.types());
            n.put("imatrix", j.imatrix());
            n.put("priority", j.priority());
            n.put("state", j.state());
            n.put("created_at", j.createdAt());
        }
        ArrayNode ss = root.putArray("steps");
        for (Step s : steps) {
            ObjectNode n = ss.addObject();
            n.put("id", s.id());
            ArrayNode jobIds = n.putArray("jobs");
            s.jobs().forEach(jobIds::add);
            n.put("model", s.modelName());
            n.put("kind", s.kindLabel());
            n.put("type", s.type());
            n.put("state", s.state().label());
            n.put("display_state", s.display());
            n.put("worker", s.worker());
            n.put("attempts", s.attempts());
            n.put("max_attempts", s.maxAttempts());
            n.put("lost_leases", s.lostLeases());
            if (s.progress() != null) n.put("progress", s.progress()); else n.putNull("progress");
            if (s.etaSeconds() != null) n.put("eta_seconds", s.etaSeconds()); else n.putNull("eta_seconds");
            n.put("output", s.output());
            if (s.outputSize() != null) n.put("output_size", s.outputSize()); else n.putNull("output_size");
            n.put("output_sha256", s.outputSha256());
            n.put("error", s.error());
            n.put("note", s.note());
            ArrayNode deps = n.putArray("depends_on");
            s.dependsOn().forEach(deps::add);
        }
        return root;
    }
}
