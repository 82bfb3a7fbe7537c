ALTER TABLE household_queues DROP COLUMN muted;
