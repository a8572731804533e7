package dev.requant.testmodels.hostile;

import static dev.requant.testmodels.hostile.HostileCase.quantizeWithImatrix;

import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixEntry;
import dev.requant.formats.imatrix.ImatrixFormat;
import dev.requant.formats.imatrix.ImatrixWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Importance matrices that do not fit the model or their format, given to {@code quantize --imatrix} (GGUF and legacy
 * .dat) and to {@code imatrix --resume}: truncated, entries of the wrong size (the error must name the imatrix, 18.7),
 * non-finite values, implausible counts.
 */
final class ImatrixCases {
    private ImatrixCases() {}

    private interface Edit {
        void apply(Path file) throws IOException;
    }

    private static HostileCase file(String id, String point, String what, boolean dat, String fragment, Edit edit) {
        String name = dat ? "im.dat" : "im.gguf";
        return new HostileCase(id, point, what, (dir, base) -> {
            Path f = dir.resolve(name);
            BaseInputs.copy(dat ? base.imatrixDat() : base.imatrixGguf(), f);
            edit.apply(f);
        }, List.of(quantizeWithImatrix("{dir}/" + name).expecting(fragment)));
    }

    /** An imatrix written from the valid one with its entries changed. */
    private static HostileCase entries(String id, String point, String what, ImatrixFormat format, String fragment,
                                       UnaryOperator<Map<String, ImatrixEntry>> edit) {
        String name = format == ImatrixFormat.DAT ? "im.dat" : "im.gguf";
        return new HostileCase(id, point, what, (dir, base) -> {
            List<GgufTensorSpec> t = GgufCases.baseTensors();
            Imatrix valid = BaseInputs.imatrixFor(t);
            Map<String, ImatrixEntry> e = edit.apply(new LinkedHashMap<>(valid.entries()));
            ImatrixWriter.write(dir.resolve(name), Imatrix.raw(e, valid.datasets(), valid.chunkCount(), valid.chunkSize()), format);
        }, List.of(quantizeWithImatrix("{dir}/" + name).expecting(fragment)));
    }

    static List<HostileCase> cases() {
        List<HostileCase> c = new ArrayList<>();
        String w = "blk.0.ffn_down.weight";
        for (ImatrixFormat f : ImatrixFormat.values()) {
            String k = f.name().toLowerCase();
            c.add(entries("imatrix-" + k + "-entry-too-short", "18.7", "entry " + w + " has half the columns", f, "im." + k, e -> {
                ImatrixEntry old = e.get(w);
                e.put(w, new ImatrixEntry(w, java.util.Arrays.copyOf(old.sums(), old.sums().length / 2), old.counts()));
                return e;
            }));
            c.add(entries("imatrix-" + k + "-entry-too-long", "18.7", "entry " + w + " has twice the columns", f, "im." + k, e -> {
                ImatrixEntry old = e.get(w);
                e.put(w, new ImatrixEntry(w, java.util.Arrays.copyOf(old.sums(), old.sums().length * 2), old.counts()));
                return e;
            }));
            c.add(entries("imatrix-" + k + "-nan", "base", "entry " + w + " holds a NaN", f, "non-finite", e -> {
                ImatrixEntry old = e.get(w);
                float[] s = old.sums().clone();
                s[3] = Float.NaN;
                e.put(w, new ImatrixEntry(w, s, old.counts()));
                return e;
            }));
            c.add(entries("imatrix-" + k + "-inf", "base", "entry " + w + " holds an infinity", f, "non-finite", e -> {
                ImatrixEntry old = e.get(w);
                float[] s = old.sums().clone();
                s[0] = Float.POSITIVE_INFINITY;
                e.put(w, new ImatrixEntry(w, s, old.counts()));
                return e;
            }));
        }
        for (double at : new double[] {0.1, 0.5, 0.9}) {
            c.add(file("imatrix-gguf-truncated-" + (int) (at * 100), "base", "GGUF imatrix cut at " + at, false, null,
                    f -> Bytes.truncate(f, (long) (Files.size(f) * at))));
            c.add(file("imatrix-dat-truncated-" + (int) (at * 100), "base", "legacy imatrix cut at " + at, true, null,
                    f -> Bytes.truncate(f, (long) (Files.size(f) * at))));
        }
        c.add(file("imatrix-empty", "base", "empty imatrix file", true, null, f -> Bytes.truncate(f, 0)));
        c.add(file("imatrix-dat-entries-huge", "base", "legacy n_entries 2^31-1", true, null, f -> Bytes.putI32(f, 0, Integer.MAX_VALUE)));
        c.add(file("imatrix-dat-entries-negative", "base", "legacy n_entries -1", true, null, f -> Bytes.putI32(f, 0, -1)));
        c.add(file("imatrix-dat-name-length-huge", "base", "legacy name length 2^31-1", true, null, f -> Bytes.putI32(f, 4, Integer.MAX_VALUE)));
        c.add(file("imatrix-dat-name-length-negative", "base", "legacy name length -5", true, null, f -> Bytes.putI32(f, 4, -5)));
        c.add(file("imatrix-text", "base", "a text file given as imatrix", true, null, f -> Files.writeString(f, "hello, this is not an imatrix\n".repeat(10))));
        c.add(new HostileCase("imatrix-is-a-model", "base", "the model given as the imatrix", (dir, base) -> { },
                List.of(quantizeWithImatrix("{base}/model.gguf").expecting("no imatrix entries"))));
        return c;
    }
}
