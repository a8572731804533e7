package dev.requant.cli;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * The one way commands show progress: a bar with speed and ETA on stderr, only when the user is at a terminal (a
 * pipe or a log file would fill with redraws) and not turned off with --no-progress. Null means no bar.
 */
final class ProgressBars {
    private ProgressBars() {}

    static ProgressBar start(String task, long total, String unit, long unitSize, boolean noProgress) {
        if (noProgress || System.console() == null) return null;
        return new ProgressBarBuilder().setTaskName(task).setInitialMax(total).setUnit(unit, unitSize).showSpeed()
                .setStyle(ProgressBarStyle.ASCII).continuousUpdate().build();
    }
}
