package dev.requant.formats.nvfp4;

import dev.requant.formats.FormatException;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.safetensors.SafetensorsDtype;
import dev.requant.formats.safetensors.SafetensorsTensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The quantized tensors of an NVFP4 checkpoint, found among its safetensors by the producers' naming (the same
 * grouping convert_hf_to_gguf.py's _generate_nvfp4_tensors and dequant_model make):
 * <ul>
 *   <li>ModelOpt: {@code M.weight} (U8 {@code [out, in/2]}) with a 2-D {@code M.weight_scale} (F8_E4M3
 *       {@code [out, in/16]}), {@code M.weight_scale_2} and {@code M.input_scale} (F32 scalars, multipliers);</li>
 *   <li>compressed-tensors {@code nvfp4-pack-quantized}: {@code M.weight_packed}, {@code M.weight_scale},
 *       {@code M.weight_global_scale} and {@code M.input_global_scale} (F32 {@code [1]}, divisors);</li>
 *   <li>FP8 linears (ModelOpt FP8 / FP8_PER_CHANNEL_PER_TOKEN / FP8_PB_WO and MIXED_PRECISION, compressed-tensors
 *       float-quantized, quant_method "fp8"): {@code M.weight} in F8 with {@code M.weight_scale} (or
 *       {@code M.weight_scale_inv}) per tensor, per row or per block ({@link Fp8Linear}).</li>
 * </ul>
 * Every tensor consumed by such a group, and the unused KV-cache scales ({@code k_scale}, {@code v_scale}), is
 * {@linkplain #isAuxiliary auxiliary}: it is not a model tensor of its own. Shapes and dtypes are checked here;
 * values (NaN scales, sign bits) are left to the verifier and to the converter's checks.
 */
public final class Nvfp4Checkpoint {
    private final QuantizationConfig config;
    private final Map<String, Nvfp4Tensor> nvfp4;
    private final Map<String, Fp8Linear> fp8;
    private final Set<String> auxiliary;
    private final List<Nvfp4Experts> experts;
    private final Map<String, Nvfp4Experts> expertsByStoredName;

    private Nvfp4Checkpoint(QuantizationConfig config, Map<String, Nvfp4Tensor> nvfp4, Map<String, Fp8Linear> fp8, Set<String> auxiliary,
                            List<Nvfp4Experts> experts) {
        this.config = config;
        this.nvfp4 = Collections.unmodifiableMap(nvfp4);
        this.fp8 = Collections.unmodifiableMap(fp8);
        this.auxiliary = Collections.unmodifiableSet(auxiliary);
        this.experts = List.copyOf(experts);
        Map<String, Nvfp4Experts> by = new LinkedHashMap<>();
        for (Nvfp4Experts x : experts) for (String n : x.storedWeights()) by.put(n, x);
        this.expertsByStoredName = Collections.unmodifiableMap(by);
    }

    /** A per-expert module: {@code <prefix>.layers.<l>.[moe.]experts.<e>.<proj>}. */
    private static final java.util.regex.Pattern PER_EXPERT = java.util.regex.Pattern.compile(
            "(.*\\.layers\\.(\\d+)\\.(?:moe\\.)?experts)\\.(\\d+)\\.(gate_proj|up_proj|down_proj)");
    /** A stacked module: {@code <prefix>.layers.<l>.[moe.]experts.<proj>}. */
    private static final java.util.regex.Pattern STACKED = java.util.regex.Pattern.compile(
            "(.*\\.layers\\.(\\d+)\\.(?:moe\\.)?experts)\\.(gate_up_proj|gate_proj|up_proj|down_proj)");

    /** Reads the folder's quantization declaration and groups the tensors of {@code ck} (which stays open). */
    public static Nvfp4Checkpoint scan(Path dir, SafetensorsCheckpoint ck) throws IOException {
        return scan(ck, QuantizationConfig.read(dir));
    }

    public static Nvfp4Checkpoint scan(SafetensorsCheckpoint ck, QuantizationConfig qc) throws FormatException {
        Map<String, Nvfp4Tensor> nv = new LinkedHashMap<>();
        Map<String, Fp8Linear> fp8s = new LinkedHashMap<>();
        Set<String> aux = new HashSet<>();
        List<Nvfp4Experts> stackedGroups = new java.util.ArrayList<>();
        boolean ct = qc.kind() == QuantizationConfig.Kind.COMPRESSED_TENSORS_NVFP4;
        for (SafetensorsCheckpoint.Entry e : ck.entries()) {
            String name = e.name();
            if (name.endsWith(".k_scale") || name.endsWith(".v_scale")) {
                aux.add(name);
                continue;
            }
            String module;
            if (name.endsWith(".weight_packed")) module = name.substring(0, name.length() - ".weight_packed".length());
            else if (name.endsWith(".weight")) module = name.substring(0, name.length() - ".weight".length());
            else if (STACKED.matcher(name).matches() && ck.get(name + ".weight_scale").isPresent()) module = name; // bare 3-D expert codes
            else continue;
            if (e.tensor().rank() == 3) {
                stacked(ck, e, module, ct, stackedGroups, aux);
                continue;
            }
            Optional<SafetensorsCheckpoint.Entry> scale = ck.get(module + ".weight_scale");
            SafetensorsTensor w = e.tensor();
            boolean packedDtype = w.dtype() == SafetensorsDtype.U8 || w.dtype() == SafetensorsDtype.I8;
            boolean f8 = w.dtype() == SafetensorsDtype.F8_E4M3 || w.dtype() == SafetensorsDtype.F8_E5M2;
            if (scale.isEmpty() && f8) scale = ck.get(module + ".weight_scale_inv"); // quant_method "fp8": a multiplier despite the name
            if (scale.isEmpty()) {
                if (name.endsWith(".weight_packed")) throw bad(e, "is packed NVFP4 but " + module + ".weight_scale is missing");
                if (packedDtype && qc.isNvfp4()) throw bad(e, "is " + w.dtype() + " (packed NVFP4?) but " + module + ".weight_scale is missing");
                if (f8) throw bad(e, "is " + w.dtype() + " but has no " + module + ".weight_scale (or weight_scale_inv) to dequantize it with");
                continue;
            }
            SafetensorsTensor s = scale.get().tensor();
            if (s.rank() == 2 && packedDtype) {
                nv.put(module + ".weight", nvfp4(ck, e, scale.get(), module, ct));
                aux.add(scale.get().name());
                for (String suffix : List.of(".weight_scale_2", ".input_scale", ".weight_global_scale", ".input_global_scale", ".weight_zero_point", ".weight_shape")) {
                    if (ck.get(module + suffix).isPresent()) aux.add(module + suffix);
                }
            } else if (f8) {
                fp8s.put(module + ".weight", fp8(e, scale.get(), module, qc.weightBlock()));
                aux.add(scale.get().name());
                for (String suffix : List.of(".input_scale", ".activation_scale", ".input_zero_point", ".weight_zero_point")) {
                    if (ck.get(module + suffix).isPresent()) aux.add(module + suffix);
                }
            } else if (s.rank() == 2) {
                throw bad(e, "has a 2-D weight_scale (NVFP4 block scales) but is " + w.dtype() + "; packed NVFP4 codes are U8");
            }
        }
        // per-expert tensors: grouped by (layer, projection), in expert order, and no longer single weights
        Map<String, java.util.TreeMap<Integer, Nvfp4Tensor>> perExpert = new LinkedHashMap<>();
        Map<String, List<String>> names = new LinkedHashMap<>();
        for (var it = nv.entrySet().iterator(); it.hasNext(); ) {
            var x = it.next();
            java.util.regex.Matcher m = PER_EXPERT.matcher(x.getValue().module());
            if (!m.matches()) continue;
            String key = m.group(1) + "|" + m.group(2) + "|" + m.group(4);
            perExpert.computeIfAbsent(key, k -> new java.util.TreeMap<>()).put(Integer.parseInt(m.group(3)), x.getValue());
            names.computeIfAbsent(key, k -> new java.util.ArrayList<>()).add(x.getValue().weightName());
            it.remove();
        }
        List<Nvfp4Experts> groups = new java.util.ArrayList<>(stackedGroups);
        for (var g : perExpert.entrySet()) {
            String[] k = g.getKey().split("\\|");
            java.util.TreeMap<Integer, Nvfp4Tensor> byId = g.getValue();
            if (byId.firstKey() != 0 || byId.lastKey() != byId.size() - 1) {
                throw new FormatException(ck.root(), k[0] + "." + k[2] + ": NVFP4 experts " + byId.keySet() + " are not numbered 0.." + (byId.size() - 1)
                        + " (partial NVFP4 quantization across experts?)");
            }
            try {
                groups.add(new Nvfp4Experts(k[0], Integer.parseInt(k[1]), k[2], List.copyOf(byId.values()), false, names.get(g.getKey())));
            } catch (IllegalArgumentException ex) {
                throw new FormatException(ck.root(), ex.getMessage());
            }
        }
        Map<String, Integer> position = new java.util.HashMap<>();
        for (SafetensorsCheckpoint.Entry e : ck.entries()) position.put(e.name(), position.size());
        groups.sort(java.util.Comparator.comparingInt(g -> position.getOrDefault(g.firstStoredName(), 0)));
        return new Nvfp4Checkpoint(qc, nv, fp8s, aux, groups);
    }

    private static Nvfp4Tensor nvfp4(SafetensorsCheckpoint ck, SafetensorsCheckpoint.Entry w, SafetensorsCheckpoint.Entry s, String module, boolean ct)
            throws FormatException {
        SafetensorsTensor wt = w.tensor(), st = s.tensor();
        if (wt.rank() != 2) throw bad(w, "is packed NVFP4 with shape " + Arrays.toString(wt.shape()) + "; expected [out, in/2]");
        if (st.dtype() != SafetensorsDtype.F8_E4M3 && st.dtype() != SafetensorsDtype.U8) {
            throw bad(s, "is " + st.dtype() + "; NVFP4 block scales are F8_E4M3");
        }
        long rows = wt.dim(0), cols = wt.dim(1) * 2;
        if (st.dim(0) != rows || st.dim(1) * Nvfp4Tensor.BLOCK != cols) {
            throw bad(s, "has shape " + Arrays.toString(st.shape()) + " but " + w.name() + " " + Arrays.toString(wt.shape())
                    + " holds " + rows + " x " + cols + " codes, which need [" + rows + ", " + cols / Nvfp4Tensor.BLOCK + "] block scales of 16");
        }
        boolean divisor = ct || ck.get(module + ".weight_global_scale").isPresent();
        GlobalScale ws = divisor ? scalar(ck, module + ".weight_global_scale", true) : scalar(ck, module + ".weight_scale_2", false);
        GlobalScale is = divisor ? scalar(ck, module + ".input_global_scale", true) : scalar(ck, module + ".input_scale", false);
        if (ws == null) ws = GlobalScale.ONE;
        return new Nvfp4Tensor(module, w.name(), rows, cols, w.file().data(wt), s.file().data(st), ws, is);
    }

    /**
     * One 3-D NVFP4 tensor holding all experts of a projection: codes {@code [E, rows, cols/2]}, block scales
     * {@code [E, rows, cols/16]}, per-tensor (and activation) scales with one value per expert or one for all. Each
     * expert becomes an {@link Nvfp4Tensor} over slices of the mapping.
     */
    private static void stacked(SafetensorsCheckpoint ck, SafetensorsCheckpoint.Entry w, String module, boolean ct, List<Nvfp4Experts> out,
                                Set<String> aux) throws FormatException {
        java.util.regex.Matcher m = STACKED.matcher(module);
        Optional<SafetensorsCheckpoint.Entry> se = ck.get(module + ".weight_scale");
        SafetensorsTensor wt = w.tensor();
        if (!m.matches() || se.isEmpty() || !(wt.dtype() == SafetensorsDtype.U8 || wt.dtype() == SafetensorsDtype.I8)) {
            throw bad(w, "is a 3-D " + wt.dtype() + " tensor; 3-D quantized weights are read only as NVFP4 experts (U8 codes with a 3-D weight_scale)");
        }
        SafetensorsTensor st = se.get().tensor();
        int n = Math.toIntExact(wt.dim(0));
        long rows = wt.dim(1), cols = wt.dim(2) * 2;
        if (st.rank() != 3 || st.dim(0) != n || st.dim(1) != rows || st.dim(2) * Nvfp4Tensor.BLOCK != cols) {
            throw bad(se.get(), "has shape " + Arrays.toString(st.shape()) + " but " + w.name() + " " + Arrays.toString(wt.shape()) + " needs ["
                    + n + ", " + rows + ", " + cols / Nvfp4Tensor.BLOCK + "]");
        }
        if (st.dtype() != SafetensorsDtype.F8_E4M3 && st.dtype() != SafetensorsDtype.U8) throw bad(se.get(), "is " + st.dtype() + "; NVFP4 block scales are F8_E4M3");
        boolean divisor = ct || ck.get(module + ".weight_global_scale").isPresent();
        float[] ws = perExpert(ck, module + (divisor ? ".weight_global_scale" : ".weight_scale_2"), n);
        float[] is = perExpert(ck, module + (divisor ? ".input_global_scale" : ".input_scale"), n);
        aux.add(se.get().name());
        for (String suffix : List.of(".weight_scale_2", ".input_scale", ".weight_global_scale", ".input_global_scale")) {
            if (ck.get(module + suffix).isPresent()) aux.add(module + suffix);
        }
        var packed = w.file().data(wt);
        var scales = se.get().file().data(st);
        long pBytes = rows * (cols / 2), sBytes = rows * (cols / Nvfp4Tensor.BLOCK);
        List<Nvfp4Tensor> experts = new java.util.ArrayList<>();
        for (int e = 0; e < n; e++) {
            GlobalScale g = ws == null ? GlobalScale.ONE : divisor ? GlobalScale.divisor(ws[e]) : GlobalScale.multiplier(ws[e]);
            GlobalScale in = is == null ? null : divisor ? GlobalScale.divisor(is[e]) : GlobalScale.multiplier(is[e]);
            experts.add(new Nvfp4Tensor(module + "#" + e, w.name(), rows, cols, packed.asSlice(e * pBytes, pBytes), scales.asSlice(e * sBytes, sBytes), g, in));
        }
        out.add(new Nvfp4Experts(m.group(1), Integer.parseInt(m.group(2)), m.group(3), experts, true, List.of(w.name())));
    }

    /** A scale with one value per expert ({@code [E]}) or one for all ({@code []}, {@code [1]}); null when absent. */
    private static float[] perExpert(SafetensorsCheckpoint ck, String name, int n) throws FormatException {
        Optional<SafetensorsCheckpoint.Entry> e = ck.get(name);
        if (e.isEmpty()) return null;
        SafetensorsTensor t = e.get().tensor();
        long c = t.elementCount();
        if ((c != 1 && c != n) || !t.dtype().isFloat()) throw bad(e.get(), "has " + c + " " + t.dtype() + " values; expected one float per expert (" + n + ") or one");
        float[] v = new float[(int) c];
        t.dtype().toFloats(e.get().file().data(t), 0, v, 0, (int) c);
        if (c == n) return v;
        float[] all = new float[n];
        java.util.Arrays.fill(all, v[0]);
        return all;
    }

    private static GlobalScale scalar(SafetensorsCheckpoint ck, String name, boolean divisor) throws FormatException {
        Optional<SafetensorsCheckpoint.Entry> e = ck.get(name);
        if (e.isEmpty()) return null;
        SafetensorsTensor t = e.get().tensor();
        if (t.elementCount() != 1) throw bad(e.get(), "has " + t.elementCount() + " values; a per-tensor scale has one");
        if (!t.dtype().isFloat()) throw bad(e.get(), "is " + t.dtype() + "; a per-tensor scale is a float");
        float[] v = new float[1];
        t.dtype().toFloats(e.get().file().data(t), 0, v, 0, 1);
        return divisor ? GlobalScale.divisor(v[0]) : GlobalScale.multiplier(v[0]);
    }

    /**
     * An FP8 weight and its scale: one value (per tensor), one per output row ({@code [rows]} or {@code [rows, 1]}),
     * or a 2-D grid of tile scales. The tile size is the config's ({@code weight_block_size},
     * {@code block_structure}), else the one the grid implies (128 x 128, the only size in use, when the grid is
     * {@code ceil(rows/128) x ceil(cols/128)}; else an exact division).
     */
    private static Fp8Linear fp8(SafetensorsCheckpoint.Entry w, SafetensorsCheckpoint.Entry s, String module, int[] block) throws FormatException {
        SafetensorsTensor wt = w.tensor(), st = s.tensor();
        if (wt.rank() != 2) throw bad(w, "is FP8 with shape " + Arrays.toString(wt.shape()) + "; expected [out, in]");
        long rows = wt.dim(0), cols = wt.dim(1);
        long n = st.elementCount();
        if (!st.dtype().isFloat()) throw bad(s, "is " + st.dtype() + "; expected a float scale");
        float[] v = new float[(int) n];
        st.dtype().toFloats(s.file().data(st), 0, v, 0, (int) n);
        boolean channel = n == rows && (st.rank() == 1 || (st.rank() == 2 && st.dim(1) == 1));
        if (n == 1 || channel) return new Fp8Linear(module, w.name(), wt.dtype(), rows, cols, w.file().data(wt), v);
        if (st.rank() != 2) {
            throw bad(s, "has shape " + Arrays.toString(st.shape()) + "; an FP8 weight scale has 1 value (per tensor), " + rows
                    + " (per row) or a 2-D grid of block scales");
        }
        long gr = st.dim(0), gc = st.dim(1);
        int br, bc;
        if (block != null) {
            br = block[0];
            bc = block[1];
        } else if (gr == (rows + 127) / 128 && gc == (cols + 127) / 128) {
            br = bc = 128;
        } else if (rows % gr == 0 && cols % gc == 0) {
            br = (int) (rows / gr);
            bc = (int) (cols / gc);
        } else {
            throw bad(s, "is a " + gr + " x " + gc + " grid of block scales for a " + rows + " x " + cols + " weight, and config.json gives no block size");
        }
        if ((rows + br - 1) / br != gr || (cols + bc - 1) / bc != gc) {
            throw bad(s, "has shape " + Arrays.toString(st.shape()) + " but blocks of " + br + " x " + bc + " over " + rows + " x " + cols
                    + " need [" + (rows + br - 1) / br + ", " + (cols + bc - 1) / bc + "]");
        }
        return new Fp8Linear(module, w.name(), wt.dtype(), rows, cols, w.file().data(wt), v, br, bc);
    }

    private static FormatException bad(SafetensorsCheckpoint.Entry e, String problem) {
        return new FormatException(e.file().path(), "tensor '" + e.name() + "' " + problem);
    }

    public QuantizationConfig config() { return config; }

    /** The NVFP4 tensors by canonical weight name ({@code <module>.weight}), in checkpoint order. */
    public Map<String, Nvfp4Tensor> nvfp4() { return nvfp4; }

    public Map<String, Fp8Linear> fp8() { return fp8; }

    /** The NVFP4 tensor stored under {@code storedName} ({@code M.weight} or {@code M.weight_packed}). */
    public Optional<Nvfp4Tensor> nvfp4(String storedName) {
        return Optional.ofNullable(nvfp4.get(canonicalWeightName(storedName)));
    }

    public Optional<Fp8Linear> fp8(String storedName) {
        return Optional.ofNullable(fp8.get(storedName));
    }

    /** The NVFP4 mixture-of-experts groups (per-expert or stacked), in checkpoint order of their first tensor. */
    public List<Nvfp4Experts> experts() { return experts; }

    /** The expert group a stored codes tensor belongs to. */
    public Optional<Nvfp4Experts> experts(String storedName) { return Optional.ofNullable(expertsByStoredName.get(storedName)); }

    /** Scales and other tensors that belong to a quantized weight (or are unused KV-cache scales). */
    public boolean isAuxiliary(String storedName) { return auxiliary.contains(storedName); }

    public Collection<String> auxiliaryNames() { return auxiliary; }

    public boolean isEmpty() { return nvfp4.isEmpty() && fp8.isEmpty() && experts.isEmpty(); }

    /** compressed-tensors' {@code M.weight_packed} as the model's {@code M.weight}. */
    public static String canonicalWeightName(String stored) {
        return stored.endsWith(".weight_packed") ? stored.substring(0, stored.length() - "_packed".length()) : stored;
    }
}
