package dev.requant.converter.quantize.mix;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.converter.quantize.TensorTypeOverride;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class MixRecipeTest {
    @Test
    void eachRuleMatchesExactlyItsTensor() {
        Map<String, GgmlType> types = new LinkedHashMap<>();
        types.put("blk.1.attn_q.weight", GgmlType.Q5_K);
        types.put("blk.11.attn_q.weight", GgmlType.Q4_K);
        types.put("token_embd.weight", GgmlType.Q8_0);
        MixRecipe r = new MixRecipe(types, Set.of(), FileType.Q4_K_M);
        assertThat(r.lines()).containsExactly("^blk\\.1\\.attn_q\\.weight$=q5_K", "^blk\\.11\\.attn_q\\.weight$=q4_K",
                "^token_embd\\.weight$=q8_0");
        List<TensorTypeOverride> o = r.overrides();
        for (String name : List.of("blk.1.attn_q.weight", "blk.11.attn_q.weight", "token_embd.weight", "blkX1.attn_q.weight",
                "blk.1.attn_q.weight.bias", "per_layer_token_embd.weight")) {
            List<TensorTypeOverride> hits = o.stream().filter(x -> x.matches(name)).toList();
            if (types.containsKey(name)) assertThat(hits).as(name).hasSize(1).allMatch(h -> h.type() == types.get(name));
            else assertThat(hits).as(name).isEmpty();
        }
    }

    @Test
    void theFileTypeIsTheOneOfTheMostBytes() {
        assertThat(MixRecipe.fileTypeFor(Map.of(GgmlType.Q4_K, 100L, GgmlType.Q6_K, 50L, GgmlType.F32, 500L))).isEqualTo(FileType.Q4_K_M);
        assertThat(MixRecipe.fileTypeFor(Map.of(GgmlType.Q4_0, 100L, GgmlType.Q8_0, 50L))).isEqualTo(FileType.Q4_0);
        assertThat(MixRecipe.fileTypeFor(Map.of(GgmlType.Q5_K, 100L))).isEqualTo(FileType.Q5_K_M);
        assertThat(MixRecipe.fileTypeFor(Map.of(GgmlType.F32, 100L))).isEqualTo(FileType.Q8_0);
    }

    @Test
    void sizesParse() {
        assertThat(SizeBudget.parseSize("6.5G").bytes()).isEqualTo((long) (6.5 * (1L << 30)));
        assertThat(SizeBudget.parseSize("700MiB").bytes()).isEqualTo(700L << 20);
        assertThat(SizeBudget.parseSize("12345").bytes()).isEqualTo(12345);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> SizeBudget.parseSize("big")).hasMessageContaining("is not a size");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> SizeBudget.parseSize("-1G")).hasMessageContaining("must be positive");
    }
}
