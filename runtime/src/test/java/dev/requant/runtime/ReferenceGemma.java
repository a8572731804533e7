package dev.requant.runtime;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.model.GemmaArch;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.LayerConfig;
import dev.requant.formats.model.ModelSource;

/**
 * A deliberately naive Gemma forward pass for tests: the pseudo-code of gemma-conversion.md §6.2/§6.3 written out
 * token by token in double precision, over weights fully decoded to double arrays (fine for tiny models only). It
 * shares nothing with the CPU backend but the config record, so it catches batching, caching, indexing and row
 * selection bugs in the fast path.
 */
public final class ReferenceGemma {
    private final ModelSource src;
    private final GemmaConfig c;

    public ReferenceGemma(ModelSource src) throws Exception {
        this.src = src;
        this.c = GemmaConfig.of(src);
    }

    private final java.util.Map<String, double[]> decoded = new java.util.HashMap<>();

    private double[] vec(String name) {
        if (decoded.containsKey(name)) return decoded.get(name);
        GgufTensorSpec s = src.tensor(name).orElse(null);
        if (s == null) {
            decoded.put(name, null);
            return null;
        }
        float[] f = new float[(int) s.elementCount()];
        BlockCodec.of(s.type()).decode(src.data(name), 0, f, 0, f.length);
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        decoded.put(name, d);
        return d;
    }

    /** W (rows = out) · x, for matrix m of a stacked tensor. */
    private double[] mul(String name, int m, double[] x) {
        GgufTensorSpec s = src.tensor(name).orElseThrow();
        int in = (int) s.dim(0), out = (int) s.dim(1);
        double[] w = vec(name);
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double acc = 0;
            for (int k = 0; k < in; k++) acc += w[(m * out + o) * in + k] * x[k];
            y[o] = acc;
        }
        double[] scale = vec(name.replace(".weight", ".scale"));
        if (scale != null && !name.endsWith("ffn_gate_inp.weight")) for (int o = 0; o < out; o++) y[o] *= scale.length == 1 ? scale[0] : scale[m];
        return y;
    }

    private double[] rms(double[] x, int off, int n, double[] w) {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += x[off + i] * x[off + i];
        double s = 1 / Math.sqrt(ss / n + c.rmsEps());
        double[] y = new double[n];
        for (int i = 0; i < n; i++) y[i] = x[off + i] * s * (w == null ? 1 : w[i]);
        return y;
    }

    private static double gelu(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    private static double[] add(double[] a, double[] b) {
        double[] y = new double[a.length];
        for (int i = 0; i < a.length; i++) y[i] = a[i] + b[i];
        return y;
    }

    private void rope(double[] v, int off, LayerConfig l, int pos, double[] ff) {
        int half = l.nRot() / 2;
        for (int i = 0; i < half; i++) {
            double theta = l.ropeFreqScale() * pos * Math.pow(l.ropeBase(), -2.0 * i / l.nRot());
            if (ff != null) theta /= ff[i];
            double x0 = v[off + i], x1 = v[off + i + half];
            v[off + i] = x0 * Math.cos(theta) - x1 * Math.sin(theta);
            v[off + i + half] = x0 * Math.sin(theta) + x1 * Math.cos(theta);
        }
    }

    private double[] ffn(String p, double[] y) {
        double[] g = mul(p + "ffn_gate.weight", 0, y), u = mul(p + "ffn_up.weight", 0, y);
        for (int i = 0; i < g.length; i++) g[i] = gelu(g[i]) * u[i];
        return mul(p + "ffn_down.weight", 0, g);
    }

    /** Logits [n x vocab] of a token sequence from position 0. */
    public double[][] logits(int[] tokens) {
        int n = tokens.length, E = c.nEmbd(), L = c.nLayer();
        boolean g4 = c.arch() == GemmaArch.GEMMA4;
        double[] embd = vec("token_embd.weight");
        double[][] h = new double[n][E];
        for (int t = 0; t < n; t++) for (int i = 0; i < E; i++) h[t][i] = embd[tokens[t] * E + i] * Math.sqrt(E);
        double[][][] P = null;
        if (c.hasPerLayerInputs()) {
            int pd = c.perLayerInputDim();
            double[] pte = vec("per_layer_token_embd.weight");
            double[] norm = vec("per_layer_proj_norm.weight");
            P = new double[n][L][];
            for (int t = 0; t < n; t++) {
                double[] ctx = mul("per_layer_model_proj.weight", 0, h[t]);
                for (int l = 0; l < L; l++) {
                    double[] cl = new double[pd];
                    for (int i = 0; i < pd; i++) cl[i] = ctx[l * pd + i] / Math.sqrt(E);
                    cl = rms(cl, 0, pd, norm);
                    P[t][l] = new double[pd];
                    for (int i = 0; i < pd; i++) P[t][l][i] = (cl[i] + pte[tokens[t] * L * pd + l * pd + i] * Math.sqrt(pd)) / Math.sqrt(2);
                }
            }
        }
        double[] ff = vec("rope_freqs.weight");
        double[][][] K = new double[L][][], V = new double[L][][];
        for (int li = 0; li < L; li++) {
            LayerConfig l = c.layer(li);
            String p = "blk." + li + ".";
            int hd = l.headDim();
            double[] qn = vec(p + "attn_q_norm.weight"), kn = vec(p + "attn_k_norm.weight");
            double[][] q = new double[n][];
            if (l.hasKv()) {
                K[li] = new double[n][];
                V[li] = new double[n][];
            }
            for (int t = 0; t < n; t++) {
                double[] x = rms(h[t], 0, E, vec(p + "attn_norm.weight"));
                q[t] = mul(p + "attn_q.weight", 0, x);
                for (int hh = 0; hh < l.nHead(); hh++) {
                    double[] nq = rms(q[t], hh * hd, hd, qn);
                    System.arraycopy(nq, 0, q[t], hh * hd, hd);
                    rope(q[t], hh * hd, l, t, l.ropeFreqFactors() ? ff : null);
                }
                if (l.hasKv()) {
                    double[] k = mul(p + "attn_k.weight", 0, x);
                    double[] v = src.tensor(p + "attn_v.weight").isPresent() ? mul(p + "attn_v.weight", 0, x) : k.clone();
                    for (int g = 0; g < l.nHeadKv(); g++) {
                        System.arraycopy(rms(k, g * hd, hd, kn), 0, k, g * hd, hd);
                        rope(k, g * hd, l, t, l.ropeFreqFactors() ? ff : null);
                        if (g4) System.arraycopy(rms(v, g * hd, hd, null), 0, v, g * hd, hd);
                    }
                    K[li][t] = k;
                    V[li][t] = v;
                }
            }
            double[][] kk = K[l.kvLayer()], vv = V[l.kvLayer()];
            for (int t = 0; t < n; t++) {
                double[] att = new double[l.qDim()];
                for (int hh = 0; hh < l.nHead(); hh++) {
                    int g = hh / (l.nHead() / l.nHeadKv());
                    double[] s = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= t; j++) {
                        boolean visible = !l.slidingWindow() || t - j < c.slidingWindow();
                        double dot = 0;
                        for (int i = 0; i < hd; i++) dot += q[t][hh * hd + i] * kk[j][g * hd + i];
                        s[j] = visible ? dot * l.attnScale() : Double.NEGATIVE_INFINITY;
                        max = Math.max(max, s[j]);
                    }
                    double z = 0;
                    for (int j = 0; j <= t; j++) z += s[j] = Math.exp(s[j] - max);
                    for (int j = 0; j <= t; j++) for (int i = 0; i < hd; i++) att[hh * hd + i] += s[j] / z * vv[j][g * hd + i];
                }
                double[] a = rms(mul(p + "attn_output.weight", 0, att), 0, E, vec(p + "post_attention_norm.weight"));
                double[] h1 = add(h[t], a);
                double[] f = ffn(p, rms(h1, 0, E, vec(p + "ffn_norm.weight")));
                if (src.tensor(p + "ffn_gate_inp.weight").isPresent()) {
                    f = rms(f, 0, E, vec(p + "post_ffw_norm_1.weight"));
                    double[] r = rms(h1, 0, E, null);
                    double[] rs = vec(p + "ffn_gate_inp.scale");
                    for (int i = 0; i < E; i++) r[i] = r[i] / Math.sqrt(E) * rs[i];
                    double[] logit = mul(p + "ffn_gate_inp.weight", 0, r);
                    double mx = Double.NEGATIVE_INFINITY, z = 0;
                    for (double v : logit) mx = Math.max(mx, v);
                    double[] pr = new double[logit.length];
                    for (int e = 0; e < pr.length; e++) z += pr[e] = Math.exp(logit[e] - mx);
                    for (int e = 0; e < pr.length; e++) pr[e] /= z;
                    Integer[] order = new Integer[pr.length];
                    for (int e = 0; e < pr.length; e++) order[e] = e;
                    java.util.Arrays.sort(order, (x1, x2) -> Double.compare(pr[x2], pr[x1]));
                    double top = 0;
                    for (int j = 0; j < c.nExpertUsed(); j++) top += pr[order[j]];
                    double[] u = rms(h1, 0, E, vec(p + "pre_ffw_norm_2.weight"));
                    double[] moe = new double[E];
                    int ffe = c.expertFf();
                    for (int j = 0; j < c.nExpertUsed(); j++) {
                        int e = order[j];
                        double[] gu = mul(p + "ffn_gate_up_exps.weight", e, u);
                        double[] act = new double[ffe];
                        for (int i = 0; i < ffe; i++) act[i] = gelu(gu[i]) * gu[ffe + i];
                        double[] d = mul(p + "ffn_down_exps.weight", e, act);
                        for (int i = 0; i < E; i++) moe[i] += pr[e] / top * d[i];
                    }
                    f = add(f, rms(moe, 0, E, vec(p + "post_ffw_norm_2.weight")));
                }
                double[] h2 = add(h1, rms(f, 0, E, vec(p + "post_ffw_norm.weight")));
                if (P != null) {
                    double[] gt = mul(p + "inp_gate.weight", 0, h2);
                    for (int i = 0; i < gt.length; i++) gt[i] = gelu(gt[i]) * P[t][li][i];
                    h2 = add(h2, rms(mul(p + "proj.weight", 0, gt), 0, E, vec(p + "post_norm.weight")));
                }
                double[] los = vec(p + "layer_output_scale.weight");
                if (los != null) for (int i = 0; i < E; i++) h2[i] *= los[0];
                h[t] = h2;
            }
        }
        String head = src.tensor("output.weight").isPresent() ? "output.weight" : "token_embd.weight";
        double[][] out = new double[n][];
        for (int t = 0; t < n; t++) {
            out[t] = mul(head, 0, rms(h[t], 0, E, vec("output_norm.weight")));
            if (c.finalLogitSoftcap() > 0) {
                for (int i = 0; i < out[t].length; i++) out[t][i] = c.finalLogitSoftcap() * Math.tanh(out[t][i] / c.finalLogitSoftcap());
            }
            for (int s : c.suppressTokens()) out[t][s] = Double.NEGATIVE_INFINITY;
        }
        return out;
    }
}
