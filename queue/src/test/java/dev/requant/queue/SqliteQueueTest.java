package dev.requant.queue;

/** The queue scenarios on the embedded SQLite file, with 2 worker processes. */
class SqliteQueueTest extends QueueScenarios {
    @Override
    String newDatabase() {
        return dir.resolve("queue.db").toString();
    }

    @Override
    void dropDatabase() {}

    @Override
    int workerProcesses() { return 2; }
}
