package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.formats.gguf.FileType;
import dev.requant.cuda.CudaDevice;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixEntry;
import dev.requant.formats.imatrix.ImatrixReader;
import dev.requant.testmodels.Golden;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code requant imatrix MODEL --text FILE} against the real llama-imatrix: the golden gemma3-tiny imatrix was made by
 * {@code llama-imatrix -c 256 --chunks 40} over calibration.txt on the BF16 GGUF of the golden checkpoint; the same run
 * here gives the same file structure, the same token counts and per-tensor sums within float rounding.
 */
class ImatrixCollectCommandTest {
    static final Path GOLDEN = Golden.llamacpp("gemma3-tiny.imatrix.gguf");
    static final Path TEXT = Golden.text("calibration.txt");

    @TempDir static Path dir;
    static Path bf16;
    static Path fromGguf;

    @BeforeAll
    static void convertAndCollect() throws Exception {
        bf16 = dir.resolve("gemma3-tiny.bf16.gguf");
        GgufConversion.write(GemmaPlanner.plan(Golden.hf("gemma3-tiny"), ConversionSettings.of(FileType.BF16)), bf16, null);
        fromGguf = dir.resolve("ours.gguf");
        CliRun r = CliRun.of("imatrix", bf16.toString(), "--text", TEXT.toString(), "-c", "256",
                "--chunks", "40", "-o", fromGguf.toString(), "--device", "cpu", "--threads", "2", "--no-progress");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("gguf imatrix, 42 entries, 40 chunks of 256 tokens")
                .contains("collected 10240 tokens in").contains("tokens/s on cpu, 2 threads");
    }

    static double relativeL2(float[] a, float[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (double) a[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }

    @Test
    void matchesLlamaImatrixOnTheGoldenModel() throws Exception {
        Imatrix ours = ImatrixReader.read(fromGguf), ref = ImatrixReader.read(GOLDEN);
        assertThat(ours.entries().keySet()).containsExactlyElementsOf(ref.entries().keySet());
        assertThat(ours.chunkCount()).isEqualTo(ref.chunkCount()).isEqualTo(40);
        assertThat(ours.chunkSize()).isEqualTo(ref.chunkSize()).isEqualTo(256);
        // llama-imatrix records its -f argument as given; it was run as "-f calibration.txt"
        assertThat(ours.datasets()).containsExactly(TEXT.toString());
        assertThat(ref.datasets()).containsExactly(TEXT.getFileName().toString());
        double worst = 0;
        String worstName = null;
        for (ImatrixEntry r : ref.entries().values()) {
            ImatrixEntry e = ours.entry(r.name()).orElseThrow();
            assertThat(e.counts()).as(r.name()).containsExactly(r.counts());
            double d = relativeL2(e.sums(), r.sums());
            if (d > worst) {
                worst = d;
                worstName = r.name();
            }
        }
        System.out.printf("imatrix vs llama-imatrix (gemma3-tiny, 40 x 256): worst per-tensor relative L2 %.3g (%s)%n", worst, worstName);
        assertThat(worst).as(worstName).isLessThanOrEqualTo(1e-2);
        // Q, K and V share one input, so llama-imatrix's three entries are identical; so are ours
        assertThat(ours.entry("blk.3.attn_k.weight").orElseThrow().sums()).containsExactly(ours.entry("blk.3.attn_q.weight").orElseThrow().sums());
    }

    @Test
    void fileStructureIsLlamaImatrixs() throws Exception {
        try (GgufFile a = GgufFile.open(fromGguf); GgufFile b = GgufFile.open(GOLDEN)) {
            assertThat(a.version()).isEqualTo(b.version());
            assertThat(a.alignment()).isEqualTo(b.alignment());
            assertThat(new ArrayList<>(a.metadata().keys())).containsExactlyElementsOf(b.metadata().keys());
            for (String k : b.metadata().keys()) {
                assertThat(a.metadata().get(k).orElseThrow().type()).as(k).isEqualTo(b.metadata().get(k).orElseThrow().type());
            }
            assertThat(a.metadata().get("imatrix.chunk_count")).isEqualTo(b.metadata().get("imatrix.chunk_count"));
            assertThat(a.metadata().get("imatrix.chunk_size")).isEqualTo(b.metadata().get("imatrix.chunk_size"));
            List<String> ta = a.tensors().stream().map(t -> t.name() + " " + t.type() + " " + java.util.Arrays.toString(t.ne())).toList();
            List<String> tb = b.tensors().stream().map(t -> t.name() + " " + t.type() + " " + java.util.Arrays.toString(t.ne())).toList();
            assertThat(ta).containsExactlyElementsOf(tb);
            for (GgufTensorInfo t : a.tensors()) assertThat(t.offset()).isEqualTo(b.tensor(t.name()).orElseThrow().offset());
            // the header differs by the dataset path's length only; the data sections have the same size
            assertThat(a.fileSize() - a.dataOffset()).isEqualTo(b.fileSize() - b.dataOffset());
        }
    }

    @Test
    void huggingFaceFolderGivesTheSameFile() throws Exception {
        Path out = dir.resolve("from-hf.gguf");
        CliRun r = CliRun.of("imatrix", Golden.hf("gemma3-tiny").toString(), "-f", TEXT.toString(),
                "-c", "256", "--chunks", "40", "-o", out.toString(), "--device", "cpu", "--threads", "2", "--no-progress");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.readAllBytes(out)).isEqualTo(Files.readAllBytes(fromGguf));
    }

    @Test
    void savesPeriodicallyAndResumesToTheSameFile() throws Exception {
        String[] common = {"imatrix", bf16.toString(), "--text", TEXT.toString(), "-c", "64", "-b", "128", "--chunks", "8",
                "--device", "cpu", "--threads", "2", "--no-progress"};
        Path full = dir.resolve("full.gguf"), partial = dir.resolve("partial.gguf"), resumed = dir.resolve("resumed.gguf");
        assertThat(CliRun.of(concat(common, "-o", full.toString())).code()).isZero();
        // a run that saved every 4 chunks: partial.gguf.at_4 is what a crash after chunk 5 would leave
        CliRun p = CliRun.of(concat(common, "-o", partial.toString(), "--save-frequency", "4"));
        assertThat(p.code()).as(p.err()).isZero();
        Path at4 = dir.resolve("partial.gguf.at_4");
        assertThat(at4).exists();
        assertThat(dir.resolve("partial.gguf.at_8")).exists();
        assertThat(ImatrixReader.read(at4).chunkCount()).isEqualTo(4);
        assertThat(ImatrixReader.read(at4).entry("blk.0.ffn_down.weight").orElseThrow().counts()).containsExactly(4L * 64);
        assertThat(Files.readAllBytes(partial)).isEqualTo(Files.readAllBytes(full));

        CliRun r = CliRun.of(concat(common, "-o", resumed.toString(), "--resume", at4.toString()));
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("collected 256 tokens");
        assertThat(Files.readAllBytes(resumed)).as("resumed = uninterrupted, byte for byte").isEqualTo(Files.readAllBytes(full));
    }

    @Test
    void legacyFormatAndSkippedChunks() throws Exception {
        Path out = dir.resolve("skip.dat");
        CliRun r = CliRun.of("imatrix", bf16.toString(), "--text", TEXT.toString(), "-c", "32",
                "--chunks", "3", "--chunk", "5", "-o", out.toString(), "--device", "cpu", "--no-progress");
        assertThat(r.code()).as(r.err()).isZero();
        Imatrix im = ImatrixReader.read(out);
        assertThat(im.legacy()).isTrue();
        assertThat(im.chunkCount()).isEqualTo(3);
        assertThat(im.entry("blk.2.attn_output.weight").orElseThrow().counts()).containsExactly(3L); // ncall
    }

    @Test
    void badInputIsOneLine() throws Exception {
        Path shortText = dir.resolve("short.txt");
        Files.writeString(shortText, "too short for two chunks");
        CliRun r = CliRun.of("imatrix", bf16.toString(), "--text", shortText.toString(), "-o",
                dir.resolve("x.gguf").toString(), "--device", "cpu");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().strip().lines()).hasSize(1);
        assertThat(r.err()).contains("needs at least 1024");
        CliRun d = CliRun.of("imatrix", bf16.toString(), "--text", TEXT.toString(), "--device", "tpu");
        assertThat(d.code()).isEqualTo(2); // a usage error: one line with the reason, one with where the help is
        assertThat(d.err().strip().lines()).hasSize(2);
        assertThat(d.err()).contains("'tpu'").contains("see 'requant imatrix --help'");
        CliRun g = CliRun.of("imatrix", bf16.toString(), "--text", TEXT.toString(), "--gpu-inputs", "fp8");
        assertThat(g.code()).isEqualTo(2);
        assertThat(g.err()).contains("--gpu-inputs").contains("'fp8'").contains("BF16").contains("SPLIT_BF16");
        CliRun m = CliRun.of("imatrix", dir.resolve("missing.gguf").toString(), "--text", TEXT.toString());
        assertThat(m.code()).isEqualTo(1);
        assertThat(m.err().strip().lines()).hasSize(1);
    }

    @Test
    void deviceCudaWithoutAGpuIsACleanError() {
        String reason = CudaDevice.unavailableReason();
        org.junit.jupiter.api.Assumptions.assumeTrue(reason != null, "this machine has a GPU");
        CliRun r = CliRun.of("imatrix", bf16.toString(), "--text", TEXT.toString(), "-c", "64",
                "--chunks", "2", "-o", dir.resolve("gpu.gguf").toString(), "--device", "cuda");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().strip().lines()).hasSize(1);
        assertThat(r.err()).contains("--device cuda: ").contains(reason);
        CliRun auto = CliRun.of("imatrix", bf16.toString(), "--text", TEXT.toString(), "-c", "64",
                "--chunks", "2", "-o", dir.resolve("auto.gguf").toString(), "--device", "auto", "--no-progress");
        assertThat(auto.code()).as(auto.err()).isZero();
        assertThat(auto.out()).contains("on cpu");
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
