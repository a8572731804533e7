package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Uploads from a memory-mapped file through the page-locked ring arrive byte for byte, in order with later work. */
class StagedUploadTest {
    @TempDir
    Path dir;

    /** A mapped file of {@code bytes} whose every long is its own index times an odd constant (no two chunks alike). */
    private MemorySegment mappedPattern(Arena arena, long bytes) throws IOException {
        Path f = dir.resolve("pattern.bin");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MemorySegment m = ch.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
            for (long i = 0; i < bytes / 8; i++) m.setAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i, i * 0x9E3779B97F4A7C15L);
            m.force();
        }
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes, arena);
        }
    }

    @Test
    void manyChunksThroughFewBuffersArriveIntact() throws Exception {
        CudaDevice d = CudaTestSupport.device();
        long bytes = 48L << 20 | 4104; // not a multiple of the chunk: the last chunk is short
        try (Arena arena = Arena.ofConfined();
             StagedUpload up = new StagedUpload(d, 1L << 20, 2, 3)) {
            MemorySegment src = mappedPattern(arena, bytes);
            DeviceBuffer a = d.allocate(bytes), b = d.allocate(bytes);
            try {
                up.copy(src.asSlice(0, bytes / 2), a);
                up.copy(src.asSlice(bytes / 2), a.slice(bytes / 2, bytes - bytes / 2));
                // a device-to-device copy queued after the uploads must see all of them
                d.copy(a, b);
                d.synchronize();
                MemorySegment back = arena.allocate(bytes, 16);
                d.copyToHost(b, back);
                assertThat(back.mismatch(src)).as("first differing byte").isEqualTo(-1L);
                assertThat(up.stagedBytes()).isEqualTo(bytes);
            } finally {
                d.free(a);
                d.free(b);
            }
        }
    }

    @Test
    void aConfinedSegmentIsCopiedByItsOwnerAlone() throws Exception {
        CudaDevice d = CudaTestSupport.device();
        long bytes = 20L << 20;
        try (Arena confined = Arena.ofConfined(); StagedUpload up = new StagedUpload(d, 8L << 20, 2, 4)) {
            MemorySegment src = confined.allocate(bytes, 16);
            for (long i = 0; i < bytes / 8; i++) src.setAtIndex(ValueLayout.JAVA_LONG, i, i * 31 + 1);
            DeviceBuffer a = d.allocate(bytes);
            try {
                up.copy(src, a);
                d.synchronize();
                MemorySegment back = confined.allocate(bytes, 16);
                d.copyToHost(a, back);
                assertThat(back.mismatch(src)).isEqualTo(-1L);
                assertThat(up.stagedBytes()).isEqualTo(bytes);
            } finally {
                d.free(a);
            }
        }
    }

    @Test
    void smallAndHeapSegmentsTakeTheDirectRoute() throws Exception {
        CudaDevice d = CudaTestSupport.device();
        byte[] heap = new byte[(int) StagedUpload.DIRECT_BELOW + 17];
        for (int i = 0; i < heap.length; i++) heap[i] = (byte) (i * 31 + 7);
        try (Arena arena = Arena.ofConfined(); StagedUpload up = StagedUpload.defaults(d)) {
            DeviceBuffer a = d.allocate(heap.length);
            try {
                up.copy(MemorySegment.ofArray(heap), a);
                byte[] back = new byte[heap.length];
                d.copyToHost(a, MemorySegment.ofArray(back));
                assertThat(back).isEqualTo(heap);
                assertThat(up.stagedBytes()).isZero();
            } finally {
                d.free(a);
            }
        }
    }
}
