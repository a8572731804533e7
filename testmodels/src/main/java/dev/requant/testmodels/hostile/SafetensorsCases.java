package dev.requant.testmodels.hostile;

import static dev.requant.testmodels.hostile.HostileCase.convert;
import static dev.requant.testmodels.hostile.HostileCase.inspect;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * Corruptions of the one-shard checkpoint's model.safetensors: header length off by a few bytes (with the JSON still
 * parsing thanks to padding spaces), bytes after the data, gaps and overlaps between tensors, truncations, and bad
 * header JSON. convert and inspect must refuse each one; none of them may hand out shifted weights.
 */
final class SafetensorsCases {
    private SafetensorsCases() {}

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A safetensors file taken apart: its header object and its data section. */
    record Parts(ObjectNode header, byte[] data) {
        static Parts read(Path file) throws IOException {
            byte[] all = Files.readAllBytes(file);
            long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong();
            ObjectNode h = (ObjectNode) JSON.readTree(Arrays.copyOfRange(all, 8, 8 + (int) n));
            return new Parts(h, Arrays.copyOfRange(all, 8 + (int) n, all.length));
        }

        /** Tensor names sorted by data offset. */
        List<String> byOffset() {
            List<String> names = new ArrayList<>();
            header.properties().forEach(e -> { if (!e.getKey().equals("__metadata__")) names.add(e.getKey()); });
            names.sort((a, b) -> Long.compare(begin(a), begin(b)));
            return names;
        }

        long begin(String t) { return header.get(t).get("data_offsets").get(0).asLong(); }

        /** Writes {@code header} padded with {@code pad} spaces, the length field off by {@code lengthDelta}, then {@code data}. */
        static void write(Path file, String header, int pad, long lengthDelta, byte[] data) throws IOException {
            byte[] h = (header + " ".repeat(pad)).getBytes(StandardCharsets.UTF_8);
            ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(h.length + lengthDelta).put(h).put(data);
            Files.write(file, b.array());
        }

        void write(Path file) throws IOException {
            write(file, header.toString(), (8 - header.toString().length() % 8) % 8, 0, data);
        }
    }

    private interface Edit {
        void apply(Path file, Parts parts) throws IOException;
    }

    private static HostileCase st(String id, String point, String what, String fragment, Edit edit) {
        return new HostileCase(id, point, what, (dir, base) -> {
            BaseInputs.copy(base.hf(), dir.resolve("hf"));
            Path f = dir.resolve("hf/model.safetensors");
            edit.apply(f, Parts.read(f));
        }, List.of(convert("{dir}/hf", "bf16").expecting(fragment), inspect("{dir}/hf").expecting(fragment)));
    }

    /** Shifts the offsets of every tensor from {@code from} (in offset order) by {@code delta}. */
    private static void shift(Parts p, String from, long delta) {
        long start = p.begin(from);
        for (String t : p.byOffset()) {
            ArrayNode o = (ArrayNode) p.header().get(t).get("data_offsets");
            if (o.get(0).asLong() >= start) {
                o.set(0, o.get(0).asLong() + delta);
                o.set(1, o.get(1).asLong() + delta);
            }
        }
    }

    private static byte[] insert(byte[] data, long at, int n) {
        byte[] out = new byte[data.length + n];
        System.arraycopy(data, 0, out, 0, (int) at);
        System.arraycopy(data, (int) at, out, (int) at + n, data.length - (int) at);
        return out;
    }

    private static Edit header(UnaryOperator<ObjectNode> edit) {
        return (f, p) -> new Parts(edit.apply(p.header()), p.data()).write(f);
    }

    static List<HostileCase> cases() {
        List<HostileCase> c = new ArrayList<>();
        // 18.1: the header length field off, JSON still parsing because of padding spaces
        for (int d : new int[] {-2, -1, 1, 2, -8, 8, -6}) {
            int pad = Math.max(8, -d);
            c.add(st("st-header-length" + (d > 0 ? "+" : "") + d, "18.1", "header length " + d + " with " + pad + " padding spaces", null,
                    (f, p) -> Parts.write(f, p.header().toString(), pad, d, p.data())));
        }
        for (int extra : new int[] {1, 2, 7, 100}) {
            c.add(st("st-bytes-after-data-" + extra, "18.1", extra + " bytes after the last tensor", "after the last tensor",
                    (f, p) -> Bytes.append(f, new byte[extra])));
        }
        for (int which : new int[] {0, 3, 7, -1}) {
            c.add(st("st-gap-before-" + which, "18.1", "2-byte gap before tensor #" + which + " by offset", null, (f, p) -> {
                List<String> order = p.byOffset();
                String t = order.get(which < 0 ? order.size() - 1 : which);
                long at = p.begin(t);
                shift(p, t, 2);
                new Parts(p.header(), insert(p.data(), at, 2)).write(f);
            }));
            c.add(st("st-overlap-at-" + which, "18.1", "tensor #" + which + " starts 2 bytes early", null, (f, p) -> {
                List<String> order = p.byOffset();
                String t = order.get(Math.max(1, which < 0 ? order.size() - 1 : which));
                shift(p, t, -2);
                new Parts(p.header(), Arrays.copyOf(p.data(), p.data().length - 2)).write(f);
            }));
        }
        c.add(st("st-first-tensor-not-at-0", "18.1", "data section starts with 4 unused bytes", null, (f, p) -> {
            shift(p, p.byOffset().getFirst(), 4);
            new Parts(p.header(), insert(p.data(), 0, 4)).write(f);
        }));
        c.add(st("st-header-not-object-start", "18.1", "header starts with a space", null,
                (f, p) -> Parts.write(f, " " + p.header().toString(), 7, 0, p.data())));
        c.add(st("st-header-trailing-garbage", "18.1", "header JSON followed by more JSON", null,
                (f, p) -> Parts.write(f, p.header().toString() + "{}", 6, 0, p.data())));
        c.add(st("st-header-duplicate-key", "18.1", "a tensor listed twice in the header", null, (f, p) -> {
            String h = p.header().toString();
            String first = p.byOffset().getFirst();
            String entry = "\"" + first + "\":" + p.header().get(first);
            Parts.write(f, h.substring(0, h.length() - 1) + "," + entry + "}", 8, 0, p.data());
        }));
        // truncations and headers the readers already refused
        for (double at : new double[] {0, 0.5, 0.9, 0.999}) {
            c.add(st("st-truncated-" + (int) (at * 1000), "base", "file cut at " + at + " of its length", null,
                    (f, p) -> Bytes.truncate(f, (long) ((8 + p.header().toString().length() + p.data().length) * at))));
        }
        c.add(st("st-truncated-header", "base", "file cut in the header", null, (f, p) -> Bytes.truncate(f, 40)));
        c.add(st("st-header-length-huge", "base", "header length 2^62", "not a safetensors file", (f, p) -> Bytes.putI64(f, 0, 1L << 62)));
        c.add(st("st-header-length-zero", "base", "header length 0", "not a safetensors file", (f, p) -> Bytes.putI64(f, 0, 0)));
        c.add(st("st-header-invalid-json", "base", "header JSON cut", "JSON", (f, p) -> Parts.write(f, "{\"a\":", 3, 0, p.data())));
        c.add(st("st-header-array", "base", "header is a JSON array", null, (f, p) -> Parts.write(f, "[1,2]", 3, 0, p.data())));
        String t0 = "model.layers.0.mlp.down_proj.weight";
        c.add(st("st-dtype-unknown", "base", "dtype Q4", "unsupported dtype", header(h -> { ((ObjectNode) h.get(t0)).put("dtype", "Q4"); return h; })));
        c.add(st("st-dtype-number", "base", "dtype 7", null, header(h -> { ((ObjectNode) h.get(t0)).put("dtype", 7); return h; })));
        c.add(st("st-shape-mismatch", "base", "shape one row short", null, header(h -> {
            ArrayNode s = (ArrayNode) h.get(t0).get("shape");
            s.set(0, s.get(0).asLong() - 1);
            return h;
        })));
        c.add(st("st-shape-negative", "base", "shape -64", "invalid dimension", header(h -> { ((ArrayNode) h.get(t0).get("shape")).set(0, -64); return h; })));
        c.add(st("st-shape-float", "base", "shape 64.5", "invalid dimension", header(h -> { ((ArrayNode) h.get(t0).get("shape")).set(0, 64.5); return h; })));
        c.add(st("st-shape-huge", "base", "shape 2^62 x 2^62", null, header(h -> {
            ArrayNode s = (ArrayNode) h.get(t0).get("shape");
            s.set(0, 1L << 62);
            s.set(1, 1L << 62);
            return h;
        })));
        c.add(st("st-offsets-negative", "base", "data_offsets [-8, ...]", null, header(h -> { ((ArrayNode) h.get(t0).get("data_offsets")).set(0, -8); return h; })));
        c.add(st("st-offsets-reversed", "base", "data_offsets end before begin", null, header(h -> {
            ArrayNode o = (ArrayNode) h.get(t0).get("data_offsets");
            long a = o.get(0).asLong(), b = o.get(1).asLong();
            o.set(0, b);
            o.set(1, a);
            return h;
        })));
        c.add(st("st-offsets-huge", "base", "data_offsets past 2^63", null, header(h -> {
            ArrayNode o = (ArrayNode) h.get(t0).get("data_offsets");
            o.set(1, new java.math.BigInteger("18446744073709551615"));
            return h;
        })));
        c.add(st("st-offsets-missing", "base", "no data_offsets", "data_offsets", header(h -> { ((ObjectNode) h.get(t0)).remove("data_offsets"); return h; })));
        c.add(st("st-metadata-not-string", "base", "__metadata__ value 1", "not a string", header(h -> { ((ObjectNode) h.get("__metadata__")).put("format", 1); return h; })));
        c.add(st("st-tensor-not-object", "base", "tensor entry is a string", "not an object", header(h -> { h.put(t0, "x"); return h; })));
        return c;
    }
}
