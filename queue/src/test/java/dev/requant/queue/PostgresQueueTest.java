package dev.requant.queue;

/**
 * The queue scenarios on PostgreSQL (started by scripts/test-prepare-postgres.sh), with 3 worker processes leasing
 * through SELECT ... FOR UPDATE SKIP LOCKED.
 */
class PostgresQueueTest extends QueueScenarios {
    private String server;

    @Override
    String newDatabase() throws Exception {
        server = PostgresTestServer.url();
        return PostgresTestServer.createDatabase(server);
    }

    @Override
    void dropDatabase() {
        if (server != null && db != null) PostgresTestServer.dropDatabase(server, db);
    }

    @Override
    int workerProcesses() { return 3; }
}
