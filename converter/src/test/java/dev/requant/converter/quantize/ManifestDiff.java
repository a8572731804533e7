package dev.requant.converter.quantize;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/** Differences between a golden manifest and {@code GgufManifest.of(ours)}: keys (type, value, order), tensors, file. */
final class ManifestDiff {
    private ManifestDiff() {}

    static List<String> of(JsonNode want, JsonNode got) {
        List<String> d = new ArrayList<>();
        JsonNode wk = want.get("kv"), gk = got.get("kv");
        for (var e : wk.properties()) {
            JsonNode g = gk.get(e.getKey());
            if (g == null) d.add("missing key " + e.getKey());
            else if (!same(e.getValue(), g)) d.add("key " + e.getKey() + ": want " + abbreviate(e.getValue()) + ", got " + abbreviate(g));
        }
        for (var e : gk.properties()) if (!wk.has(e.getKey())) d.add("extra key " + e.getKey() + " = " + abbreviate(e.getValue()));
        List<String> wantOrder = new ArrayList<>(), gotOrder = new ArrayList<>();
        wk.fieldNames().forEachRemaining(wantOrder::add);
        gk.fieldNames().forEachRemaining(gotOrder::add);
        if (!wantOrder.equals(gotOrder)) d.add("key order differs: want " + wantOrder + ", got " + gotOrder);
        JsonNode wt = want.get("tensors"), gt = got.get("tensors");
        for (int i = 0; i < Math.max(wt.size(), gt.size()); i++) {
            if (i >= wt.size()) { d.add("extra tensor " + gt.get(i).get("name")); continue; }
            if (i >= gt.size()) { d.add("missing tensor " + wt.get(i).get("name")); continue; }
            for (String f : List.of("name", "type", "type_id", "ne", "offset", "n_bytes", "sha256", "head_hex")) {
                if (wt.get(i).has(f) && !same(wt.get(i).get(f), gt.get(i).get(f))) {
                    d.add("tensor " + i + " " + wt.get(i).get("name").asText() + " " + f + ": want " + wt.get(i).get(f) + ", got " + gt.get(i).get(f));
                }
            }
        }
        for (String f : List.of("alignment", "data_offset", "file_size", "file_sha256")) {
            if (want.has(f) && !same(want.get(f), got.get(f))) d.add(f + ": want " + want.get(f) + ", got " + got.get(f));
        }
        return d;
    }

    /** JSON equality with numbers compared by value. */
    static boolean same(JsonNode a, JsonNode b) {
        if (b == null) return false;
        return a.equals((x, y) -> x.isNumber() && y.isNumber() ? x.decimalValue().compareTo(y.decimalValue()) : x.equals(y) ? 0 : 1, b);
    }

    private static String abbreviate(JsonNode n) {
        String s = n.toString();
        return s.length() > 300 ? s.substring(0, 300) + "..." : s;
    }
}
