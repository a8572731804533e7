package dev.requant.runtime.cpu;

import dev.requant.formats.model.GemmaConfig;
import dev.requant.runtime.ActivationObserver;
import dev.requant.runtime.model.LayerWeights;
import dev.requant.runtime.model.WeightTensor;

/**
 * The Gemma 4 mixture-of-experts branch (src/models/gemma4.cpp, build_moe_ffn with softmax gating and normalized
 * top-k weights), on the residual stream h1 after attention:
 * <pre>
 *   t   = rmsnorm(h1) / sqrt(n_embd) ⊙ ffn_gate_inp.scale          router input
 *   p   = softmax(ffn_gate_inp · t); top-k by p; w_k = p_k / Σ_top p
 *   u   = rmsnorm(h1, pre_ffw_norm_2)
 *   out = Σ_k w_k · s_e · down_e(gelu(gate_e · u) ⊙ up_e · u)     s_e = ffn_down_exps.scale[e]
 * </pre>
 * Rows are grouped by expert so each expert's matrices are decoded once per batch.
 */
final class MoeBlock {
    private final CpuSession s;
    private final GemmaConfig c;

    MoeBlock(CpuSession s) {
        this.s = s;
        this.c = s.config();
    }

    float[] run(LayerWeights.Moe m, int nRows) {
        int E = c.nEmbd(), nExp = c.nExpert(), k = c.nExpertUsed(), ff = c.expertFf();
        float eps = c.rmsEps();
        boolean vec = s.vector();
        float[] h = s.hidden();
        MatMul mm = s.matMul();
        ActivationObserver obs = s.observer();

        float[] routerIn = new float[nRows * E];
        float invSqrt = 1f / (float) Math.sqrt(E);
        s.parallelRows(nRows, (worker, t) -> {
            Ops.rmsNorm(h, t * E, null, routerIn, t * E, E, eps, vec);
            for (int i = 0; i < E; i++) routerIn[t * E + i] = routerIn[t * E + i] * invSqrt * m.gateInpScale()[i];
        });
        if (obs != null) obs.onMatMul(m.gateInp().name(), routerIn, nRows, E);
        float[] probs = new float[nRows * nExp];
        mm.multiply(m.gateInp(), 0, routerIn, 0, E, nRows, probs, 0, nExp);

        int[] chosen = new int[nRows * k];
        float[] weight = new float[nRows * k];
        int[] perExpert = new int[nExp];
        for (int t = 0; t < nRows; t++) {
            Ops.softmax(probs, t * nExp, nExp, vec);
            // top-k by descending probability; ties keep the lower expert id first (stable)
            boolean[] taken = new boolean[nExp];
            double sum = 0;
            for (int j = 0; j < k; j++) {
                int best = -1;
                for (int e = 0; e < nExp; e++) {
                    if (!taken[e] && (best < 0 || probs[t * nExp + e] > probs[t * nExp + best])) best = e;
                }
                taken[best] = true;
                chosen[t * k + j] = best;
                weight[t * k + j] = probs[t * nExp + best];
                sum += probs[t * nExp + best];
                perExpert[best]++;
            }
            for (int j = 0; j < k; j++) weight[t * k + j] = (float) (weight[t * k + j] / sum);
        }

        float[] u = new float[nRows * E];
        s.parallelRows(nRows, (worker, t) -> Ops.rmsNorm(h, t * E, m.preFfwNorm2(), u, t * E, E, eps, vec));

        // as ggml's MUL_MAT_ID ops run: every expert's gate/up first, then every expert's down
        int[][] rowsOf = new int[nExp][];
        float[][] wtsOf = new float[nExp][];
        float[][] actOf = new float[nExp][];
        for (int e = 0; e < nExp; e++) {
            int n = perExpert[e];
            if (n == 0) continue;
            int[] rows = rowsOf[e] = new int[n];
            float[] wts = wtsOf[e] = new float[n];
            int r = 0;
            for (int t = 0; t < nRows; t++) {
                for (int j = 0; j < k; j++) {
                    if (chosen[t * k + j] == e) {
                        rows[r] = t;
                        wts[r++] = weight[t * k + j];
                    }
                }
            }
            float[] in = new float[n * E];
            for (int i = 0; i < n; i++) System.arraycopy(u, rows[i] * E, in, i * E, E);
            float[] g = new float[n * ff], up = new float[n * ff];
            if (m.gateUpExps() != null) {
                WeightTensor gu = m.gateUpExps();
                if (obs != null) obs.onExpertMatMul(gu.name(), e, nExp, in, n, E);
                float[] both = new float[n * 2 * ff];
                mm.multiply(gu, e, in, 0, E, n, both, 0, 2 * ff);
                for (int i = 0; i < n; i++) {
                    System.arraycopy(both, i * 2 * ff, g, i * ff, ff); // gate rows first,
                    System.arraycopy(both, i * 2 * ff + ff, up, i * ff, ff); // then up rows
                }
            } else {
                if (obs != null) obs.onExpertMatMul(m.gateExps().name(), e, nExp, in, n, E);
                mm.multiply(m.gateExps(), e, in, 0, E, n, g, 0, ff);
                if (obs != null) obs.onExpertMatMul(m.upExps().name(), e, nExp, in, n, E);
                mm.multiply(m.upExps(), e, in, 0, E, n, up, 0, ff);
            }
            for (int i = 0; i < n; i++) Ops.geluMul(g, i * ff, up, i * ff, ff, vec);
            actOf[e] = g;
        }
        float[] out = new float[nRows * E];
        for (int e = 0; e < nExp; e++) {
            if (actOf[e] == null) continue;
            int n = rowsOf[e].length;
            if (obs != null) obs.onExpertMatMul(m.downExps().name(), e, nExp, actOf[e], n, ff);
            float[] d = new float[n * E];
            mm.multiply(m.downExps(), e, actOf[e], 0, ff, n, d, 0, E); // includes s_e (the tensor's per-expert scale)
            for (int i = 0; i < n; i++) Ops.axpy(wtsOf[e][i], d, i * E, out, rowsOf[e][i] * E, E, vec);
        }
        return out;
    }
}
