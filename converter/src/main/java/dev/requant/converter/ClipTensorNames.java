package dev.requant.converter;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * gguf-py's TensorNameMap for the clip (mmproj) architecture: which HF tensor name becomes which {@code v.*},
 * {@code a.*} or {@code mm.*} GGUF name. The table (clip-tensor-names.tsv, generated from the pinned llama.cpp's
 * gguf-py by scripts/gen-clip-tensor-names.py) is read in gguf-py's order and expanded for a block count, so that a
 * later entry replaces an earlier one for the same name exactly as TensorNameMap.__init__ builds its dict.
 */
final class ClipTensorNames {
    /** A mapped name: the gguf-py MODEL_TENSOR kind (V_ENC_EMBD_POS...) and the GGUF name with its suffix. */
    record Mapped(String kind, String ggufName) {}

    private record Row(boolean perBlock, String kind, String hf, String gguf) {}

    private static final List<Row> ROWS = load();

    private final Map<String, Mapped> map;

    private ClipTensorNames(Map<String, Mapped> map) {
        this.map = map;
    }

    /** The map gguf.get_tensor_name_map(MODEL_ARCH.MMPROJ, blocks) builds. */
    static ClipTensorNames forBlocks(int blocks) {
        Map<String, Mapped> m = new HashMap<>();
        for (Row r : ROWS) if (!r.perBlock) m.put(r.hf, new Mapped(r.kind, r.gguf));
        for (int bid = 0; bid < blocks; bid++) {
            String b = Integer.toString(bid);
            for (Row r : ROWS) if (r.perBlock) m.put(r.hf.replace("{bid}", b), new Mapped(r.kind, r.gguf.replace("{bid}", b)));
        }
        return new ClipTensorNames(m);
    }

    /** TensorNameMap.get_type_and_name: the whole name, else the name less the first of {@code suffixes} it ends with that maps. */
    Optional<Mapped> map(String name, List<String> suffixes) {
        Mapped m = map.get(name);
        if (m != null) return Optional.of(m);
        for (String s : suffixes) {
            if (!name.endsWith(s)) continue;
            m = map.get(name.substring(0, name.length() - s.length()));
            if (m != null) return Optional.of(new Mapped(m.kind(), m.ggufName() + s));
        }
        return Optional.empty();
    }

    private static List<Row> load() {
        try (InputStream in = ClipTensorNames.class.getResourceAsStream("clip-tensor-names.tsv")) {
            if (in == null) throw new IllegalStateException("clip-tensor-names.tsv is missing from the converter's resources");
            List<Row> rows = new ArrayList<>();
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                if (line.isBlank() || line.startsWith("#")) continue;
                String[] f = line.split("\t");
                if (f.length != 4) throw new IllegalStateException("clip-tensor-names.tsv: bad line '" + line + "'");
                rows.add(new Row(f[0].equals("B"), f[1], f[2], f[3]));
            }
            return List.copyOf(rows);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
