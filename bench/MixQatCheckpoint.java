// A synthetic gemma3-tiny-shaped checkpoint whose attention was QAT'd for Q4_0 (absmax/7, BF16 scales) and whose MLP and
// embeddings were not: the case where a mix should take the lattice for attention and spend bits elsewhere.
// usage: java -Drequant.shared=../shared -cp cli/target/requant.jar bench/MixQatCheckpoint.java OUT_DIR
import dev.requant.testmodels.QatWeights;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.WeightGenerator;
import java.nio.file.Path;

public class MixQatCheckpoint {
    public static void main(String[] a) throws Exception {
        SyntheticCheckpoint.gemma3().weights(QatWeights.generator(3, 0.02f,
                name -> name.contains("self_attn") ? QatWeights.Assignment.of(QatWeights.ScaleRule.ABSMAX_7, QatWeights.ScaleDtype.BF16)
                        : QatWeights.Assignment.of(QatWeights.ScaleRule.NONE, QatWeights.ScaleDtype.BF16),
                WeightGenerator.hashed(3))).write(Path.of(a[0]));
    }
}
