// Mean KL(reference || model) and same-top-token of llama.cpp (node-llama-cpp) over 4 chunks of 512 held-out tokens
// (from 90% of TOKENS.bin on, first token of each chunk BOS).
// usage: java -Drequant.root=. -cp cli/target/requant.jar bench/qat-train/JudgeWithLlamaCpp.java TOKENS.bin REF.gguf MODEL.gguf...
import dev.requant.testmodels.*; import dev.requant.llamacpp.LlamaCppEngine; import java.nio.*; import java.nio.file.*;
public class JudgeWithLlamaCpp { public static void main(String[] a) throws Exception {
  LlamaCppEngine probe = LlamaCppEngine.find().engine();
  byte[] raw = Files.readAllBytes(Path.of(a[0])); IntBuffer ib = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer();
  int[] all = new int[ib.remaining()]; ib.get(all); int start = (int)(all.length * 0.9) + 1000; int chunks = 4, len = 512;
  Path ref = Path.of(a[1]);
  for (int m = 2; m < a.length; m++) {
    double kld = 0; long same = 0, n = 0;
    for (int c = 0; c < chunks; c++) {
      int[] ids = java.util.Arrays.copyOfRange(all, start + c * len, start + (c + 1) * len); ids[0] = 2;
      float[][] r = probe.logits(ref, ids), q = probe.logits(Path.of(a[m]), ids);
      for (int p = 0; p < len; p++) {
        double[] pr = ProbabilityComparison.softmax(r[p]), pq = ProbabilityComparison.softmax(q[p]);
        for (int i = 0; i < pr.length; i++) if (pr[i] > 0) kld += pr[i] * (Math.log(pr[i]) - Math.log(Math.max(pq[i], 1e-300)));
        if (ProbabilityComparison.argmax(r[p]) == ProbabilityComparison.argmax(q[p])) same++;
        n++;
      }
    }
    System.out.printf("%-40s mean KLD %.3e  same top %.2f%%  (%d positions)%n", Path.of(a[m]).getFileName(), kld / n, 100.0 * same / n, n);
  }
}}
