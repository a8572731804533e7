package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class WorkspaceTest {
    @Test
    void layoutAlignsEveryRegion() {
        WorkspaceLayout l = new WorkspaceLayout().add("a", 1).floats("b", 1000).add("empty", 0).add("c", 256);
        assertThat(l.region("a").offset()).isZero();
        assertThat(l.region("b").offset()).isEqualTo(256);
        assertThat(l.region("empty").offset()).isEqualTo(256 + 4096);
        assertThat(l.region("c").offset()).isEqualTo(256 + 4096);
        assertThat(l.totalBytes()).isEqualTo(256 + 4096 + 256);
        assertThatThrownBy(() -> l.add("a", 1)).hasMessageContaining("already planned");
        assertThatThrownBy(() -> l.region("x")).hasMessageContaining("no workspace region 'x'");
    }

    @Test
    void regionsOfOneAllocationDoNotOverlap() {
        CudaDevice d = CudaTestSupport.device();
        WorkspaceLayout l = new WorkspaceLayout().floats("x", 1000).floats("y", 77).floats("z", 4096);
        try (CudaWorkspace ws = CudaWorkspace.allocate(d, l)) {
            int i = 1;
            for (String name : l.regions().keySet()) d.fill32(ws.get(name), i++);
            i = 1;
            for (String name : l.regions().keySet()) {
                WorkspaceLayout.Region r = l.region(name);
                int[] got = d.ints(ws.get(name), (int) (r.bytes() / 4));
                for (int v : got) assertThat(v).isEqualTo(i);
                assertThat(ws.get(name).address() % WorkspaceLayout.ALIGNMENT).isZero();
                i++;
            }
        }
        WorkspaceLayout huge = new WorkspaceLayout().add("all", d.info().totalMemory() * 2);
        assertThatThrownBy(() -> CudaWorkspace.allocate(d, huge)).hasMessageContaining("GiB free");
    }
}
