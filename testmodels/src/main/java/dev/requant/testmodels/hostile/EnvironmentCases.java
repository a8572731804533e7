package dev.requant.testmodels.hostile;

import static dev.requant.testmodels.hostile.HostileCase.accept;
import static dev.requant.testmodels.hostile.HostileCase.convert;
import static dev.requant.testmodels.hostile.HostileCase.imatrix;
import static dev.requant.testmodels.hostile.HostileCase.inspect;
import static dev.requant.testmodels.hostile.HostileCase.quantize;
import static dev.requant.testmodels.hostile.HostileCase.quantizeWithImatrix;
import static dev.requant.testmodels.hostile.HostileCase.refuse;

import dev.requant.formats.io.LittleEndianBuffer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Inputs that attack the machine rather than a field: recursion and memory (18.2: an array nested 200,000 deep, a
 * 1 GiB string, 120 M empty strings), text a terminal would interpret (18.6), FIFOs, devices, directories and
 * symlink loops where a file is expected, backtracking regexes, a GGUF without tensors and one with a nested array
 * (18.7). Plus the controls: the valid base inputs, which every command must accept.
 */
final class EnvironmentCases {
    private EnvironmentCases() {}

    static final String ESC_CLEAR = "\u001b[2J";

    private interface GgufBuild {
        void write(Path base, Path out) throws IOException;
    }

    private static HostileCase built(String id, String point, String what, GgufBuild build, List<HostileCase.Run> runs) {
        return new HostileCase(id, point, what, (dir, base) -> build.write(base.gguf(), dir.resolve("m.gguf")), runs);
    }

    /** A FIFO at {@code path} (nothing ever writes to it: a reader that opens it blocks forever). */
    static void fifo(Path path) throws IOException {
        try {
            Process p = new ProcessBuilder("mkfifo", path.toString()).redirectErrorStream(true).start();
            if (p.waitFor() != 0) throw new IOException("mkfifo " + path + ": " + new String(p.getInputStream().readAllBytes()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    static List<HostileCase> cases() {
        List<HostileCase> c = new ArrayList<>();
        // controls: the valid inputs are accepted by every command
        c.add(new HostileCase("control-gguf", "control", "the valid base model", (dir, base) -> { },
                List.of(accept("inspect", "{base}/model.gguf"), accept("quantize", "{base}/model.gguf", "{dir}/out/q.gguf", "Q8_0", "1", "--no-progress"),
                        accept("imatrix", "{base}/model.gguf", "--text", "{base}/text.txt", "-o", "{dir}/out/im.gguf", "-c", "32", "--chunks", "1",
                                "--device", "cpu", "--threads", "1", "--no-progress"),
                        accept("quantize", "--imatrix", "{base}/imatrix.gguf", "{base}/model.gguf", "{dir}/out/q4km.gguf", "Q4_K_M", "1", "--no-progress"),
                        accept("quantize", "--imatrix", "{base}/imatrix.dat", "{base}/model.gguf", "{dir}/out/q4km-dat.gguf", "Q4_K_M", "1", "--no-progress"))));
        c.add(new HostileCase("control-hf", "control", "the valid base checkpoint", (dir, base) -> { },
                List.of(accept("inspect", "{base}/hf"), accept("convert", "{base}/hf", "-o", "{dir}/out/m.gguf", "--type", "q8_0", "--no-progress"),
                        accept("convert", "{base}/hf-sharded", "-o", "{dir}/out/s.gguf", "--type", "bf16", "--no-progress"))));

        // 18.2: recursion and memory
        c.add(built("gguf-array-nested-200000", "18.2", "an array nested 200,000 deep (2.4 MB)", (base, out) -> {
            LittleEndianBuffer kv = GgufSplice.kv("x.nested", 9);
            for (int i = 0; i < 200_000; i++) kv.i32(9).i64(1);
            kv.i32(0).i64(0);
            GgufSplice.addKv(base, out, kv.toByteArray(), 0);
        }, List.of(inspect("{dir}/m.gguf").expecting("nested"), quantize("{dir}/m.gguf").expecting("nested"),
                imatrix("{dir}/m.gguf", "{base}/text.txt").expecting("nested"))));
        c.add(built("gguf-array-nested-64", "18.2", "an array nested 64 deep", (base, out) -> {
            LittleEndianBuffer kv = GgufSplice.kv("x.nested", 9);
            for (int i = 0; i < 64; i++) kv.i32(9).i64(1);
            kv.i32(0).i64(0);
            GgufSplice.addKv(base, out, kv.toByteArray(), 0);
        }, List.of(inspect("{dir}/m.gguf").expecting("nested"), quantize("{dir}/m.gguf").expecting("nested"))));
        c.add(built("gguf-string-1gib", "18.2", "general.description of 1 GiB (sparse zeros)", (base, out) -> {
            LittleEndianBuffer kv = GgufSplice.kv("general.description", 8).i64(1L << 30);
            GgufSplice.addKv(base, out, kv.toByteArray(), 1L << 30);
        }, List.of(inspect("{dir}/m.gguf").expecting("limit"), quantize("{dir}/m.gguf").expecting("limit"))));
        c.add(built("gguf-empty-strings-120m", "18.2", "an array of 120 M empty strings (960 MB, sparse)", (base, out) -> {
            LittleEndianBuffer kv = GgufSplice.kv("x.strings", 9).i32(8).i64(120_000_000L);
            GgufSplice.addKv(base, out, kv.toByteArray(), 120_000_000L * 8);
        }, List.of(inspect("{dir}/m.gguf").expecting("limit"), quantize("{dir}/m.gguf").expecting("limit"))));
        c.add(built("gguf-bools-600m", "18.2", "an array of 600 M bools (sparse)", (base, out) -> {
            LittleEndianBuffer kv = GgufSplice.kv("x.bools", 9).i32(7).i64(600_000_000L);
            GgufSplice.addKv(base, out, kv.toByteArray(), 600_000_000L);
        }, List.of(inspect("{dir}/m.gguf").expecting("limit"), quantize("{dir}/m.gguf").expecting("limit"))));
        c.add(built("gguf-many-keys", "18.2", "100,000 one-byte keys", (base, out) -> {
            int n = 100_000;
            LittleEndianBuffer kv = new LittleEndianBuffer();
            for (int i = 0; i < n; i++) kv.ggufString("k" + i).i32(0).u8(1);
            GgufSplice.addKv(base, out, kv.toByteArray(), 0);
            // addKv counted one key; the count must say all of them
            Bytes.putI64(out, GgufLayout.N_KV_AT, GgufLayout.of(base).kvs().size() + (long) n);
        }, List.of(inspect("{dir}/m.gguf").expecting("limit"), quantize("{dir}/m.gguf").expecting("limit"))));

        // 18.6: text a terminal interprets, in names, values and error messages
        c.add(built("terminal-gguf-key", "18.6", "a key with ESC[2J", (base, out) -> {
            LittleEndianBuffer kv = GgufSplice.kv("x." + ESC_CLEAR + "key", 8).ggufString("v");
            GgufSplice.addKv(base, out, kv.toByteArray(), 0);
        }, List.of(accept("inspect", "{dir}/m.gguf"), accept("quantize", "{dir}/m.gguf", "{dir}/out/q.gguf", "Q8_0", "1", "--no-progress"))));
        c.add(built("terminal-gguf-value", "18.6", "general.name with ESC[2J and a BEL", (base, out) -> {
            LittleEndianBuffer kv = GgufSplice.kv("general.description", 8).ggufString("hello" + ESC_CLEAR + "\u0007\u009b31m\r\nrequant: fake line");
            GgufSplice.addKv(base, out, kv.toByteArray(), 0);
        }, List.of(accept("inspect", "{dir}/m.gguf"))));
        c.add(new HostileCase("terminal-gguf-tensor-name", "18.6", "a tensor named ESC[2Jut_norm.weight", (dir, base) -> {
            Path f = dir.resolve("m.gguf");
            BaseInputs.copy(base.gguf(), f);
            GgufLayout.Tensor t = GgufLayout.of(f).tensors().getLast();
            Bytes.put(f, t.nameLengthAt() + 8, ESC_CLEAR.getBytes(StandardCharsets.UTF_8));
        }, List.of(accept("inspect", "{dir}/m.gguf"), accept("quantize", "--dry-run", "{dir}/m.gguf", "{dir}/out/q.gguf", "Q8_0"))));
        c.add(built("terminal-gguf-error", "18.6", "a duplicate key with ESC[2J (the error names it)", (base, out) -> {
            byte[] one = GgufSplice.kv(ESC_CLEAR + "dup", 0).u8(1).toByteArray();
            byte[] two = new byte[one.length * 2];
            System.arraycopy(one, 0, two, 0, one.length);
            System.arraycopy(one, 0, two, one.length, one.length);
            GgufSplice.addKv(base, out, two, 0);
            Bytes.putI64(out, GgufLayout.N_KV_AT, GgufLayout.of(base).kvs().size() + 2L);
        }, List.of(inspect("{dir}/m.gguf").expecting("duplicate key"), quantize("{dir}/m.gguf").expecting("duplicate key"))));
        c.add(new HostileCase("terminal-folder-name", "18.6", "a checkpoint folder named with ESC[2J, without config.json", (dir, base) -> {
            Path hf = dir.resolve("x" + ESC_CLEAR + "y");
            BaseInputs.copy(base.hf(), hf);
            Files.delete(hf.resolve("config.json"));
        }, List.of(convert("{dir}/x" + ESC_CLEAR + "y", "bf16").withoutFileName(), inspect("{dir}/x" + ESC_CLEAR + "y/model.safetensors.missing").withoutFileName())));

        // 18.7: things that are not regular files
        c.add(new HostileCase("fifo-gguf", "18.7", "a FIFO as the model", (dir, base) -> fifo(dir.resolve("m.gguf")),
                List.of(inspect("{dir}/m.gguf").expecting("not a regular file"), quantize("{dir}/m.gguf").expecting("not a regular file"),
                        imatrix("{dir}/m.gguf", "{base}/text.txt").expecting("not a regular file"))));
        c.add(new HostileCase("fifo-text", "18.7", "a FIFO as the calibration text", (dir, base) -> fifo(dir.resolve("t.txt")),
                List.of(imatrix("{base}/model.gguf", "{dir}/t.txt").expecting("not a regular file"))));
        c.add(new HostileCase("fifo-imatrix", "18.7", "a FIFO as the imatrix", (dir, base) -> fifo(dir.resolve("im.dat")),
                List.of(quantizeWithImatrix("{dir}/im.dat").expecting("not a regular file"))));
        c.add(new HostileCase("fifo-resume", "18.7", "a FIFO as the imatrix to resume", (dir, base) -> fifo(dir.resolve("im.gguf")),
                List.of(refuse("imatrix", "{base}/model.gguf", "--text", "{base}/text.txt", "-o", "{dir}/out/im.gguf", "-c", "32", "--chunks", "2",
                        "--resume", "{dir}/im.gguf", "--device", "cpu", "--threads", "1", "--no-progress").expecting("not a regular file"))));
        for (String name : List.of("config.json", "tokenizer.model", "model.safetensors", "tokenizer_config.json", "generation_config.json")) {
            c.add(new HostileCase("fifo-hf-" + name.replace('.', '-'), "18.7", "a FIFO as " + name, (dir, base) -> {
                BaseInputs.copy(base.hf(), dir.resolve("hf"));
                Files.delete(dir.resolve("hf").resolve(name));
                fifo(dir.resolve("hf").resolve(name));
            }, name.equals("model.safetensors")
                    ? List.of(convert("{dir}/hf", "bf16").expecting("not a regular file"), inspect("{dir}/hf").expecting("not a regular file"))
                    : List.of(convert("{dir}/hf", "bf16").expecting("not a regular file"))));
        }
        c.add(new HostileCase("fifo-shard", "18.7", "a FIFO as a shard named by the index", (dir, base) -> {
            BaseInputs.copy(base.hfSharded(), dir.resolve("hf"));
            Files.delete(dir.resolve("hf/model-00002-of-00003.safetensors"));
            fifo(dir.resolve("hf/model-00002-of-00003.safetensors"));
        }, List.of(convert("{dir}/hf", "bf16").expecting("not a regular file"), inspect("{dir}/hf").expecting("not a regular file"))));
        c.add(new HostileCase("device-zero", "18.7", "/dev/zero as the model", (dir, base) -> { },
                List.of(inspect("/dev/zero").withoutFileName(), quantize("/dev/zero").withoutFileName(),
                        imatrix("{base}/model.gguf", "/dev/zero").withoutFileName())));
        c.add(new HostileCase("directory-gguf", "base", "a directory named like a model", (dir, base) -> Files.createDirectories(dir.resolve("m.gguf")),
                List.of(inspect("{dir}/m.gguf"), quantize("{dir}/m.gguf"), imatrix("{dir}/m.gguf", "{base}/text.txt"))));
        c.add(new HostileCase("symlink-loop", "base", "a symlink to itself", (dir, base) -> Files.createSymbolicLink(dir.resolve("m.gguf"), dir.resolve("m.gguf")),
                List.of(inspect("{dir}/m.gguf"), quantize("{dir}/m.gguf"))));
        c.add(new HostileCase("empty-file", "base", "an empty file", (dir, base) -> Files.write(dir.resolve("m.gguf"), new byte[0]),
                List.of(inspect("{dir}/m.gguf"), quantize("{dir}/m.gguf"), imatrix("{dir}/m.gguf", "{base}/text.txt"))));
        c.add(new HostileCase("text-not-utf8", "18.7", "calibration text that is not UTF-8", (dir, base) -> Files.write(dir.resolve("t.txt"),
                new byte[] {'a', ' ', (byte) 0xff, (byte) 0xfe, ' ', 'b'}), List.of(imatrix("{base}/model.gguf", "{dir}/t.txt").expecting("UTF-8"))));
        c.add(new HostileCase("text-empty", "base", "empty calibration text", (dir, base) -> Files.write(dir.resolve("t.txt"), new byte[0]),
                List.of(imatrix("{base}/model.gguf", "{dir}/t.txt"))));
        c.add(new HostileCase("resume-is-model", "base", "--resume given the model", (dir, base) -> { },
                List.of(refuse("imatrix", "{base}/model.gguf", "--text", "{base}/text.txt", "-o", "{dir}/out/im.gguf", "-c", "32", "--chunks", "2",
                        "--resume", "{base}/model.gguf", "--device", "cpu", "--threads", "1", "--no-progress"))));

        // 18.7: a GGUF without tensors, a nested array, patterns that backtrack
        c.add(built("gguf-no-tensors", "18.7", "a GGUF with metadata and no tensors", GgufSplice::withoutTensors,
                List.of(accept("inspect", "{dir}/m.gguf"), quantize("{dir}/m.gguf").expecting("no tensors"),
                        imatrix("{dir}/m.gguf", "{base}/text.txt"))));
        c.add(built("gguf-nested-array-quantize", "18.7", "a GGUF with a nested array (llama.cpp refuses those)", (base, out) -> {
            LittleEndianBuffer kv = GgufSplice.kv("x.nested", 9).i32(9).i64(2).i32(4).i64(1).i32(7).i32(0).i64(0);
            GgufSplice.addKv(base, out, kv.toByteArray(), 0);
        }, List.of(accept("inspect", "{dir}/m.gguf"), quantize("{dir}/m.gguf").expecting("nested array"))));
        for (String p : List.of("(.*a){20}X", "(a+)+$", "(x+x+)+y", "(.*){30}q", "([a-z]*)*\\.bias")) {
            c.add(new HostileCase("regex-" + Integer.toHexString(p.hashCode()), "18.7", "--tensor-type " + p + " (backtracks in java.util.regex)",
                    (dir, base) -> { }, List.of(accept("quantize", "{base}/model.gguf", "{dir}/out/q.gguf", "Q4_0", "1", "--no-progress",
                    "--tensor-type", p + "=q8_0"))));
        }
        c.add(new HostileCase("regex-invalid", "18.7", "--tensor-type with an unbalanced parenthesis", (dir, base) -> { },
                List.of(refuse("quantize", "{base}/model.gguf", "{dir}/out/q.gguf", "Q4_0", "--tensor-type", "(attn=q8_0").expecting("pattern").withoutFileName())));
        c.add(new HostileCase("regex-backreference", "18.7", "--tensor-type with a backreference (not a regular language)", (dir, base) -> { },
                List.of(refuse("quantize", "{base}/model.gguf", "{dir}/out/q.gguf", "Q4_0", "--tensor-type", "(a)\\1=q8_0").expecting("pattern").withoutFileName())));
        return c;
    }
}
