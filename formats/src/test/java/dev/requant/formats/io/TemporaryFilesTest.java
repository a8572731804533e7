package dev.requant.formats.io;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 18.4: temporary files carry their owner, and only a dead owner's are swept. */
class TemporaryFilesTest {
    @TempDir Path tmp;

    /** The pid of a process that has exited. */
    static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }

    private Path touch(String name) throws IOException {
        return Files.write(tmp.resolve(name), new byte[] {1, 2, 3});
    }

    private List<String> names() throws IOException {
        try (Stream<Path> s = Files.list(tmp)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void namesCarryTheOwningProcessAndHost() {
        Path t = TemporaryFiles.beside(tmp.resolve("model.gguf"), null);
        assertThat(t.getParent()).isEqualTo(tmp);
        assertThat(t.getFileName().toString()).startsWith(".model.gguf." + TemporaryFiles.owner() + ".").endsWith(".tmp-requant");
        assertThat(TemporaryFiles.beside(tmp.resolve("x"), "nvfp4").getFileName().toString()).endsWith(".nvfp4.tmp-requant");
    }

    @Test
    void onlyTheTemporaryFilesOfDeadOwnersOnThisHostAreSwept() throws Exception {
        String host = TemporaryFiles.owner().substring(TemporaryFiles.owner().indexOf('@') + 1);
        long dead = deadPid();
        long liveOther = ProcessHandle.current().parent().orElseThrow().pid();
        Path deadFile = touch(".model.gguf.p" + dead + "@" + host + ".0123abcd.tmp-requant");
        Path deadFolder = Files.createDirectory(tmp.resolve(".model.gguf.p" + dead + "@" + host + ".77.nvfp4.tmp-requant"));
        Files.write(deadFolder.resolve("model.safetensors"), new byte[10]);
        touch(".model.gguf." + TemporaryFiles.owner() + ".1234.tmp-requant");         // this process: alive
        touch(".model.gguf.p" + liveOther + "@" + host + ".5678.tmp-requant");        // another live process
        touch(".model.gguf.p" + dead + "@some-other-host.9abc.tmp-requant");          // maybe alive, elsewhere
        touch(".other.gguf.p" + dead + "@" + host + ".def0.tmp-requant");             // another target
        touch(".model.gguf.step3.0a1b2c3d.tmp-requant");                              // a queue staging file
        touch("model.gguf");
        Path legacyOld = touch(".model.gguf.a1b2c3d4e5f6.tmp-requant");
        Files.setLastModifiedTime(legacyOld, FileTime.from(Instant.now().minus(TemporaryFiles.LEGACY_IDLE).minusSeconds(60)));
        touch(".model.gguf.b1b2c3d4e5f6.tmp-requant");                                // legacy, written just now

        assertThat(TemporaryFiles.sweepStale(tmp.resolve("model.gguf"))).isEqualTo(3);
        assertThat(deadFile).doesNotExist();
        assertThat(deadFolder).doesNotExist();
        assertThat(legacyOld).doesNotExist();
        assertThat(names()).containsExactlyInAnyOrder(".model.gguf." + TemporaryFiles.owner() + ".1234.tmp-requant",
                ".model.gguf.b1b2c3d4e5f6.tmp-requant", ".model.gguf.p" + dead + "@some-other-host.9abc.tmp-requant",
                ".model.gguf.p" + liveOther + "@" + host + ".5678.tmp-requant", ".model.gguf.step3.0a1b2c3d.tmp-requant",
                ".other.gguf.p" + dead + "@" + host + ".def0.tmp-requant", "model.gguf");
    }

    @Test
    void anAtomicFileSweepsItsTargetsDeadTemporaryFilesAndLeavesNoneOfItsOwn() throws Exception {
        String host = TemporaryFiles.owner().substring(TemporaryFiles.owner().indexOf('@') + 1);
        Path stale = touch(".out.gguf.p" + deadPid() + "@" + host + ".0123.tmp-requant");
        Path target = tmp.resolve("out.gguf");
        try (AtomicFile f = AtomicFile.create(target)) {
            assertThat(stale).doesNotExist();
            assertThat(f.tempPath().getFileName().toString()).contains(TemporaryFiles.owner());
            f.channel().write(ByteBuffer.wrap(new byte[] {42}));
            f.commit();
        }
        try (AtomicFile f = AtomicFile.create(tmp.resolve("abandoned.gguf"))) {
            f.channel().write(ByteBuffer.wrap(new byte[] {1}));
        }
        assertThat(names()).containsExactly("out.gguf");
    }
}
