DROP TABLE household_queue_entries;
DROP TABLE household_queues;
