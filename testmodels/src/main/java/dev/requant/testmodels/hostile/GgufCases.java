package dev.requant.testmodels.hostile;

import static dev.requant.testmodels.hostile.HostileCase.imatrix;
import static dev.requant.testmodels.hostile.HostileCase.inspect;
import static dev.requant.testmodels.hostile.HostileCase.quantize;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.testmodels.RunnableSyntheticGguf;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Corruptions of a valid GGUF model, one field at a time: truncations, the counts, every key/value's key length,
 * type, string length and array header, and every tensor info's n_dims, dims, type, offset and name length. Each one
 * is detectable (llama.cpp's reader refuses it too), so inspect, quantize and imatrix must all refuse it.
 */
final class GgufCases {
    private GgufCases() {}

    /** The base model's layout (its header is fixed by {@link BaseInputs#GGUF_SHAPE}). */
    private static GgufLayout layout;

    private static synchronized GgufLayout layout(BaseInputs base) throws IOException {
        if (layout == null) layout = GgufLayout.of(base.gguf());
        return layout;
    }

    /** A case on a copy of the base model at {dir}/m.gguf, edited by {@code edit}. */
    private interface Edit {
        void apply(Path file, GgufLayout layout) throws IOException;
    }

    private static HostileCase gguf(String id, String point, String what, String fragment, boolean withImatrix, Edit edit) {
        List<HostileCase.Run> runs = new ArrayList<>(List.of(inspect("{dir}/m.gguf").expecting(fragment), quantize("{dir}/m.gguf").expecting(fragment)));
        if (withImatrix) runs.add(imatrix("{dir}/m.gguf", "{base}/text.txt").expecting(fragment));
        return new HostileCase(id, point, what, (dir, base) -> {
            Path f = dir.resolve("m.gguf");
            BaseInputs.copy(base.gguf(), f);
            edit.apply(f, layout(base));
        }, List.copyOf(runs));
    }

    static List<HostileCase> cases(BaseInputs base) throws IOException {
        GgufLayout l = layout(base);
        List<HostileCase> c = new ArrayList<>();
        int n = 0;
        // truncations: anywhere before the last tensor's data ends
        List<Long> cuts = new ArrayList<>(List.of(0L, 3L, 4L, 7L, 8L, 15L, 16L, 23L, 24L));
        for (int i = 0; i < l.kvs().size(); i += 3) cuts.add(l.kvs().get(i).valueAt() + 1);
        for (int i = 0; i < l.tensors().size(); i += 2) cuts.add(l.tensors().get(i).typeAt() + 2);
        long lastEnd = l.tensors().getLast().dataAt() + 4L * l.tensors().getLast().ne()[0];
        cuts.addAll(List.of(l.dataOffset(), l.dataOffset() + 100, (l.dataOffset() + lastEnd) / 2, lastEnd - 1));
        for (long cut : cuts) {
            c.add(gguf("gguf-truncated-at-" + cut, "base", "file cut at byte " + cut, null, n++ % 4 == 0, (f, x) -> Bytes.truncate(f, cut)));
        }
        // header fields
        c.add(gguf("gguf-magic", "base", "magic GGML", "not a ", true, (f, x) -> Bytes.put(f, 0, "GGML".getBytes())));
        c.add(gguf("gguf-version-0", "base", "version 0", "version 0", false, (f, x) -> Bytes.putI32(f, 4, 0)));
        c.add(gguf("gguf-version-1", "base", "version 1", "version 1", false, (f, x) -> Bytes.putI32(f, 4, 1)));
        c.add(gguf("gguf-version-4", "base", "version 4", "newer than 3", false, (f, x) -> Bytes.putI32(f, 4, 4)));
        c.add(gguf("gguf-version-swapped", "base", "version byte-swapped", "big-endian", false, (f, x) -> Bytes.putI32(f, 4, 0x03000000)));
        c.add(gguf("gguf-n-tensors-plus-1", "base", "one tensor too many", null, true, (f, x) -> Bytes.putI64(f, GgufLayout.N_TENSORS_AT, x.tensors().size() + 1)));
        c.add(gguf("gguf-n-tensors-negative", "base", "n_tensors -1", "tensor count", false, (f, x) -> Bytes.putI64(f, GgufLayout.N_TENSORS_AT, -1)));
        c.add(gguf("gguf-n-tensors-huge", "base", "n_tensors 2^40", "tensor count", false, (f, x) -> Bytes.putI64(f, GgufLayout.N_TENSORS_AT, 1L << 40)));
        c.add(gguf("gguf-n-kv-plus-1", "base", "one key/value too many", null, true, (f, x) -> Bytes.putI64(f, GgufLayout.N_KV_AT, x.kvs().size() + 1)));
        c.add(gguf("gguf-n-kv-huge", "base", "n_kv 2^40", "key/value count", false, (f, x) -> Bytes.putI64(f, GgufLayout.N_KV_AT, 1L << 40)));
        // every key/value
        for (int i = 0; i < l.kvs().size(); i++) {
            GgufLayout.Kv kv = l.kvs().get(i);
            int k = i;
            String key = kv.key();
            boolean im = i % 5 == 0;
            c.add(gguf("gguf-kv" + i + "-key-length-huge", "base", key + ": key length 2^40", "1 GiB", im,
                    (f, x) -> Bytes.putI64(f, x.kvs().get(k).keyLengthAt(), 1L << 40)));
            c.add(gguf("gguf-kv" + i + "-type-13", "base", key + ": value type 13", "unknown value type 13", false,
                    (f, x) -> Bytes.putI32(f, x.kvs().get(k).typeAt(), 13)));
            c.add(gguf("gguf-kv" + i + "-type-negative", "base", key + ": value type -1", "unknown value type", false,
                    (f, x) -> Bytes.putI32(f, x.kvs().get(k).typeAt(), -1)));
            if (kv.isString()) {
                c.add(gguf("gguf-kv" + i + "-string-past-eof", "base", key + ": string length past the end", null, im,
                        (f, x) -> Bytes.putI64(f, x.kvs().get(k).valueAt(), x.fileSize())));
            }
            if (kv.isArray()) {
                c.add(gguf("gguf-kv" + i + "-array-element-type-99", "base", key + ": array element type 99", "unknown array element type 99", im,
                        (f, x) -> Bytes.putI32(f, x.kvs().get(k).valueAt(), 99)));
                c.add(gguf("gguf-kv" + i + "-array-count-2^31", "base", key + ": array count 2^31", "2^30", false,
                        (f, x) -> Bytes.putI64(f, x.kvs().get(k).valueAt() + 4, 1L << 31)));
                c.add(gguf("gguf-kv" + i + "-array-count-past-eof", "base", key + ": array count past the end", null, false,
                        (f, x) -> Bytes.putI64(f, x.kvs().get(k).valueAt() + 4, x.fileSize())));
            }
        }
        // every tensor info
        for (int i = 0; i < l.tensors().size(); i++) {
            GgufLayout.Tensor t = l.tensors().get(i);
            int k = i;
            String name = t.name();
            boolean im = i % 4 == 1;
            c.add(gguf("gguf-t" + i + "-n-dims-5", "base", name + ": n_dims 5", null, im, (f, x) -> Bytes.putI32(f, x.tensors().get(k).nDimsAt(), 5)));
            c.add(gguf("gguf-t" + i + "-n-dims-huge", "base", name + ": n_dims 2^31-1", "more than 4", false,
                    (f, x) -> Bytes.putI32(f, x.tensors().get(k).nDimsAt(), Integer.MAX_VALUE)));
            c.add(gguf("gguf-t" + i + "-ne0-zero", "base", name + ": ne[0] 0", "must be positive", false,
                    (f, x) -> Bytes.putI64(f, x.tensors().get(k).neAt()[0], 0)));
            c.add(gguf("gguf-t" + i + "-ne0-negative", "base", name + ": ne[0] -1", "must be positive", false,
                    (f, x) -> Bytes.putI64(f, x.tensors().get(k).neAt()[0], -1)));
            c.add(gguf("gguf-t" + i + "-ne0-huge", "base", name + ": ne[0] 2^62", null, im,
                    (f, x) -> Bytes.putI64(f, x.tensors().get(k).neAt()[0], 1L << 62)));
            c.add(gguf("gguf-t" + i + "-type-unknown", "base", name + ": GGML type 43", "unknown GGML type id 43", false,
                    (f, x) -> Bytes.putI32(f, x.tensors().get(k).typeAt(), 43)));
            c.add(gguf("gguf-t" + i + "-type-removed", "base", name + ": GGML type 4 (removed Q4_2)", "was removed", false,
                    (f, x) -> Bytes.putI32(f, x.tensors().get(k).typeAt(), 4)));
            c.add(gguf("gguf-t" + i + "-offset-misaligned", "base", name + ": offset + 1", null, im,
                    (f, x) -> Bytes.putI64(f, x.tensors().get(k).offsetAt(), x.tensors().get(k).dataAt() - x.dataOffset() + 1)));
            c.add(gguf("gguf-t" + i + "-offset-skips", "base", name + ": offset + 64", null, false,
                    (f, x) -> Bytes.putI64(f, x.tensors().get(k).offsetAt(), x.tensors().get(k).dataAt() - x.dataOffset() + 64)));
            c.add(gguf("gguf-t" + i + "-name-length-huge", "base", name + ": name length 2^40", "1 GiB", false,
                    (f, x) -> Bytes.putI64(f, x.tensors().get(k).nameLengthAt(), 1L << 40)));
        }
        return c;
    }

    /** The base model's tensors (for cases that rebuild a GGUF with one thing changed). */
    static List<dev.requant.formats.gguf.GgufTensorSpec> baseTensors() {
        return RunnableSyntheticGguf.tensors(BaseInputs.GGUF_SHAPE, GgmlType.BF16);
    }
}
