package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** --json output: every character a terminal acts on is a \\uXXXX escape, in values and keys, as text and as UTF-8 bytes. */
class PrettyJsonTest {
    static final String HOSTILE = "a\u001b[2J\u0007\u007f\u0085\u009b31m\u2028\u2029\u202A\u202E\u2066\u2069\u200F\u061C日本é▁z";

    @Test
    void escapesEveryTerminalControlAndKeepsOtherText() throws Exception {
        ObjectMapper m = PrettyJson.mapper();
        ObjectNode n = m.createObjectNode();
        n.put("name", HOSTILE);
        n.put(HOSTILE, 1);
        n.putArray("list").add(HOSTILE);
        String text = m.writeValueAsString(n);
        String bytes = new String(m.writeValueAsBytes(n), StandardCharsets.UTF_8);
        for (String json : new String[] {text, bytes}) {
            assertThat(json.chars().filter(c -> c != '\n' && dev.requant.formats.TerminalText.interpreted((char) c))).isEmpty();
            assertThat(json).contains("a\\u001B[2J\\u0007\\u007F\\u0085\\u009B31m\\u2028\\u2029\\u202A\\u202E\\u2066\\u2069\\u200F\\u061C日本é▁z");
            // a JSON reader gets the name back as it was
            JsonNode back = new ObjectMapper().readTree(json);
            assertThat(back.get("name").asText()).isEqualTo(HOSTILE);
            assertThat(back.has(HOSTILE)).isTrue();
            assertThat(back.get("list").get(0).asText()).isEqualTo(HOSTILE);
        }
    }

    @Test
    void plainTextIsUnchanged() throws Exception {
        assertThat(PrettyJson.mapper().writeValueAsString(java.util.Map.of("tensor", "blk.0.attn_q.weight", "n", 3)))
                .contains("\"blk.0.attn_q.weight\"");
    }
}
