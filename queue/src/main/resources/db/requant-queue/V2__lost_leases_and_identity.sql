-- requant queue schema, version 2 (issue 18.5).

-- A lease that expired (its worker was killed, hung or lost the database) no longer uses up one of the step's
-- attempts: it is counted here instead, with a limit of its own (WorkerConfig.maxLostLeases), so that kills of long
-- steps do not fail them while a step that kills every worker that runs it still ends.
ALTER TABLE steps ADD COLUMN lost_leases INTEGER NOT NULL DEFAULT 0;

-- Who this queue is: a random id made when the database is created (QueueDatabase.queueId). It goes into staging
-- file names and output ownership markers, so that two queues sharing an --out folder neither delete each other's
-- staging files nor overwrite each other's outputs.
CREATE TABLE queue_identity (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
