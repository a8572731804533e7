package dev.requant.queue;

import dev.requant.formats.io.AtomicFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * Which queue wrote an output: a hidden marker {@code .NAME.requant-owner} beside it names the queue (its id, see
 * {@link QueueDatabase#queueId()}) and the step. A step publishes its output only where no output is, or where the
 * output is its own (a step run again after its output went missing or changed); otherwise it fails, naming the owner.
 * So two queue databases that share an {@code --out} folder cannot silently overwrite each other's finished outputs
 * while both keep reporting their own SHA-256. Checking and renaming happen under a lock on the marker, so two
 * queues publishing the same name at once cannot both succeed.
 */
final class OutputOwnership {
    private OutputOwnership() {}

    static final String MARKER_SUFFIX = ".requant-owner";

    /** The queue and step that published an output. */
    record Owner(String queueId, long stepId, String database) {}

    /** An output that belongs to someone else; permanent for the step (waiting does not change the owner). */
    static final class Refused extends IOException {
        Refused(String message) { super(message); }
    }

    static Path markerOf(Path output) {
        return output.resolveSibling("." + output.getFileName() + MARKER_SUFFIX);
    }

    /** The recorded owner of {@code output}, if it has a readable marker. */
    static Optional<Owner> ownerOf(Path output) throws IOException {
        Path marker = markerOf(output);
        if (!Files.isRegularFile(marker)) return Optional.empty();
        return parse(Files.readString(marker, StandardCharsets.UTF_8));
    }

    /** Why {@code queueId}'s step may not write {@code output}, or empty when it may. */
    static Optional<String> conflict(Path output, String queueId, long stepId) throws IOException {
        if (!Files.exists(output, LinkOption.NOFOLLOW_LINKS)) return Optional.empty();
        return conflict(output, ownerOf(output), queueId, stepId);
    }

    private static Optional<String> conflict(Path output, Optional<Owner> owner, String queueId, long stepId) {
        if (owner.isEmpty()) {
            return Optional.of(output + " exists and was not written by this queue; it is not overwritten (remove it, or use another --out)");
        }
        Owner o = owner.get();
        if (o.queueId().equals(queueId) && o.stepId() == stepId) return Optional.empty();
        String who = o.queueId().equals(queueId) ? "step " + o.stepId() + " of this queue"
                : "step " + o.stepId() + " of another queue (" + o.database() + ", queue id " + o.queueId() + ")";
        return Optional.of(output + " is the output of " + who + "; it is not overwritten (use another --out)");
    }

    /**
     * Renames the complete {@code staging} file to {@code output} ({@link AtomicFile#moveIntoPlace}) and records this
     * step as its owner, unless the output exists and belongs to someone else.
     */
    static void publish(Path staging, Path output, String queueId, long stepId, String database) throws IOException {
        Path marker = markerOf(output);
        try (FileChannel ch = FileChannel.open(marker, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
             FileLock ignored = ch.lock()) {
            ByteBuffer b = ByteBuffer.allocate((int) Math.min(ch.size(), 64 << 10));
            while (b.hasRemaining() && ch.read(b) > 0) { /* read the marker */ }
            Optional<Owner> owner = parse(new String(b.array(), 0, b.position(), StandardCharsets.UTF_8));
            Optional<String> why = Files.exists(output, LinkOption.NOFOLLOW_LINKS) ? conflict(output, owner, queueId, stepId) : Optional.empty();
            if (why.isPresent()) throw new Refused(why.get());
            byte[] record = ("requant queue output\nqueue_id=" + queueId + "\nstep=" + stepId + "\ndatabase=" + database.replace('\n', ' ') + "\n")
                    .getBytes(StandardCharsets.UTF_8);
            ch.truncate(0);
            ch.write(ByteBuffer.wrap(record), 0);
            ch.force(true);
            AtomicFile.moveIntoPlace(staging, output);
        }
    }

    static Optional<Owner> parse(String text) {
        String queue = null, database = "?";
        long step = -1;
        for (String line : text.split("\n")) {
            if (line.startsWith("queue_id=")) queue = line.substring(9);
            else if (line.startsWith("step=")) {
                try {
                    step = Long.parseLong(line.substring(5).strip());
                } catch (NumberFormatException e) {
                    return Optional.empty();
                }
            } else if (line.startsWith("database=")) database = line.substring(9);
        }
        return queue == null || step < 0 ? Optional.empty() : Optional.of(new Owner(queue, step, database));
    }
}
