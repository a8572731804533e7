package dev.requant.ops.nvfp4;

import dev.requant.converter.Nvfp4StaticCheck;
import dev.requant.runtime.fp4.Fp4DynamicCheck;
import java.util.ArrayList;
import java.util.List;

/**
 * What {@code verify-fp4} found: the static check, the dynamic check (or why it did not run), the llama.cpp engine
 * check (or why not), and the verdict.
 *
 * @param device where the dynamic check ran, or null
 * @param tokens the first chunk's token ids (the engine check runs them), or null
 */
public record Fp4Verification(String model, String reference, Nvfp4StaticCheck.Report staticCheck,
        Fp4DynamicCheck.Result dynamic, String dynamicNotRun, String device, int[] tokens,
        EngineCheck engine, String engineNotRun) {

    /**
     * llama.cpp's run of the model: its non-finite logits, and its divergence from requant's W4A16 of the same
     * weights on the same ids (null when the model cannot be viewed as a GGUF or llama.cpp's logits were not finite).
     */
    public record EngineCheck(int positions, int vocab, long nonFinite, Double kld, Double sameTop) {}

    public List<String> failures() {
        List<String> f = new ArrayList<>();
        if (staticCheck != null) {
            for (Nvfp4StaticCheck.Problem p : staticCheck.problems()) {
                if (p.level() == Nvfp4StaticCheck.Level.FAIL) f.add("static: " + p.tensor() + ": " + p.what());
            }
        }
        if (dynamic != null) for (String s : dynamic.failures()) f.add("dynamic: " + s);
        if (engine != null && engine.nonFinite() > 0) f.add("engine: llama.cpp returned " + engine.nonFinite() + " non-finite logits");
        return f;
    }

    public boolean passed() { return failures().isEmpty(); }
}
