package dev.requant.formats.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.safetensors.SafetensorsDtype;
import dev.requant.formats.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 18.7: a model folder's files are not symbolic links out of it, except into the Hugging Face cache's blobs. */
class ModelFolderTest {
    @TempDir Path tmp;

    private static void shard(Path p, String tensor) throws IOException {
        try (var w = SafetensorsWriter.create(p, Map.of(), List.of(new SafetensorsWriter.Spec(tensor, SafetensorsDtype.F32, new long[] {2})))) {
            w.write(tensor, new byte[8]);
            w.commit();
        }
    }

    @Test
    void aShardLinkedOutOfTheFolderIsRefusedAndItsBytesAreNotRead() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("model"));
        Path secret = Files.writeString(tmp.resolve("secret.txt"), "hunter2 hunter2 hunter2");
        Path link = Files.createSymbolicLink(dir.resolve("model.safetensors"), secret);
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir)).isInstanceOf(FormatException.class)
                .hasMessage(link + ": is a symbolic link to " + secret.toRealPath() + ", outside the model folder " + dir
                        + "; requant does not follow such links (copy the file into the folder)")
                .message().doesNotContain("hunter2");

        // named by an index, in a subfolder that links out
        Files.delete(link);
        Path outside = Files.createDirectories(tmp.resolve("elsewhere"));
        shard(outside.resolve("model-00001-of-00001.safetensors"), "a");
        Files.createSymbolicLink(dir.resolve("sub"), outside);
        Files.writeString(dir.resolve(SafetensorsCheckpoint.INDEX), "{\"weight_map\": {\"a\": \"sub/model-00001-of-00001.safetensors\"}}");
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir)).hasMessageContaining("outside the model folder");
    }

    @Test
    void linksInsideTheFolderAndTheHuggingFaceCacheLayoutAreFollowed() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("model"));
        shard(dir.resolve("real.bin"), "a");
        Files.createSymbolicLink(dir.resolve("model.safetensors"), Path.of("real.bin"));
        try (var ck = SafetensorsCheckpoint.open(dir)) {
            assertThat(ck.entries()).hasSize(1);
        }
        Path snapshot = Files.createDirectories(tmp.resolve("hub/models--google--tiny/snapshots/abc123"));
        Path blobs = Files.createDirectories(tmp.resolve("hub/models--google--tiny/blobs"));
        shard(blobs.resolve("9f86d081884c7d65"), "b");
        Files.createSymbolicLink(snapshot.resolve("model.safetensors"), Path.of("../../blobs/9f86d081884c7d65"));
        try (var ck = SafetensorsCheckpoint.open(snapshot)) {
            assertThat(ck.entries()).extracting(SafetensorsCheckpoint.Entry::name).containsExactly("b");
        }
    }

    @Test
    void aShardNameWithANulByteIsAFormatError() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("model"));
        Path index = Files.writeString(dir.resolve(SafetensorsCheckpoint.INDEX), "{\"weight_map\": {\"a\": \"model\\u0000.safetensors\"}}");
        assertThatThrownBy(() -> SafetensorsCheckpoint.open(dir)).isInstanceOf(FormatException.class)
                .hasMessageStartingWith(index + ": names shard 'model\u0000.safetensors', which is not a valid file name");
    }
}
