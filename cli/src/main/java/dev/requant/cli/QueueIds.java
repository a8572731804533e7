package dev.requant.cli;

/** A step id ("12", as in the status table's step column) or a job id ("j3"). */
record QueueIds(boolean job, long id) {
    static QueueIds parse(String s) {
        String t = s.trim();
        boolean job = t.startsWith("j") || t.startsWith("J");
        try {
            long id = Long.parseLong(job ? t.substring(1) : t);
            if (id > 0) return new QueueIds(job, id);
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new UserError("'" + s + "' is not a step id (e.g. 12) or a job id (e.g. j3)");
    }
}
