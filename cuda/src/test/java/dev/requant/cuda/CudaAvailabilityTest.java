package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What a machine without a GPU sees (this one and CI), and what one with a GPU sees. */
class CudaAvailabilityTest {
    @Test
    void withoutAGpuOpeningFailsWithOneLineAndAutoFallsBack() throws CudaUnavailableException {
        String reason = CudaDevice.unavailableReason();
        assumeTrue(reason != null, "a GPU is present: the fallback path is not exercised here");
        assertThat(reason).startsWith("no CUDA").doesNotContain("\n");
        assertThatThrownBy(CudaDevice::open).isInstanceOf(CudaUnavailableException.class).hasMessage(reason);
        List<String> fallback = new ArrayList<>();
        assertThat(ComputeDevice.AUTO.open(fallback::add)).isNull();
        assertThat(fallback).containsExactly(reason);
        assertThatThrownBy(() -> ComputeDevice.CUDA.open(s -> { })).isInstanceOf(CudaUnavailableException.class);
        assertThat(ComputeDevice.CPU.open(s -> { })).isNull();
    }

    @Test
    void withAGpuTheDeviceDescribesItself() throws CudaUnavailableException {
        CudaDevice d = CudaTestSupport.device();
        CudaDevice.Info info = d.info();
        assertThat(info.name()).isNotBlank();
        assertThat(info.computeMajor()).isGreaterThanOrEqualTo(5);
        assertThat(info.arch()).matches("sm_\\d+");
        assertThat(info.multiprocessors()).isPositive();
        assertThat(d.memoryInfo()[0]).isPositive().isLessThanOrEqualTo(info.totalMemory());
        CudaTestSupport.report("device", info.name(), info + ", NVRTC " + d.nvrtc().version() + " (" + d.nvrtc().library() + ")");
    }

    @Test
    void deviceChoiceParses() {
        assertThat(ComputeDevice.parse("auto")).isEqualTo(ComputeDevice.AUTO);
        assertThat(ComputeDevice.parse(" CUDA ")).isEqualTo(ComputeDevice.CUDA);
        assertThatThrownBy(() -> ComputeDevice.parse("tpu")).hasMessageContaining("cpu, cuda or auto");
    }
}
