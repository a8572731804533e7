package dev.requant.queue;

import dev.requant.formats.io.AtomicFile;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where a step's executor writes before the queue publishes the result: {@code .NAME.qQUEUE.stepID.LEASE.tmp-requant}
 * beside the final output (hidden, and with {@link AtomicFile#TEMP_SUFFIX} so it is recognisable as debris after a
 * crash). The queue and step ids in the name let the next holder of the step's lease find and remove what a dead worker
 * left, and only that: another queue database writing into the same folder has steps with the same ids, but another
 * queue id. The lease in the name keeps a worker that lost its lease (but still runs) from touching the new holder's
 * file.
 */
final class StagingFiles {
    private StagingFiles() {}

    static Path stagingFor(Path output, String queueId, long stepId, String leaseToken) {
        String lease = leaseToken.length() > 8 ? leaseToken.substring(0, 8) : leaseToken;
        return output.resolveSibling(prefix(output, queueId, stepId) + lease + AtomicFile.TEMP_SUFFIX);
    }

    private static String prefix(Path output, String queueId, long stepId) {
        String queue = queueId.length() > 8 ? queueId.substring(0, 8) : queueId;
        return "." + output.getFileName() + ".q" + queue + ".step" + stepId + ".";
    }

    /**
     * Deletes the staging files of every earlier lease of this queue's step and the temporary files of writers that
     * wrote them through AtomicFile ({@code .<staging name>.<owner>.<random>.tmp-requant}). Called by the lease holder
     * before it runs the step.
     */
    static int removeDebris(Path output, String queueId, long stepId) throws IOException {
        return remove(output, prefix(output, queueId, stepId));
    }

    /** Deletes this lease's staging file and its writers' temporary files (after a failure). */
    static int removeOwn(Path staging) throws IOException {
        String name = staging.getFileName().toString();
        return remove(staging, name.substring(0, name.length() - AtomicFile.TEMP_SUFFIX.length()));
    }

    private static int remove(Path sibling, String prefix) throws IOException {
        Path dir = sibling.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) return 0;
        int n = 0;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String f = p.getFileName().toString();
                boolean match = (f.startsWith(prefix) || f.startsWith("." + prefix)) && f.endsWith(AtomicFile.TEMP_SUFFIX);
                if (match && Files.deleteIfExists(p)) n++;
            }
        }
        return n;
    }
}
