-- The household queue can be muted (issue 7: speakers have volume and mute), keeping its
-- volume for when it is unmuted.
ALTER TABLE household_queues ADD COLUMN muted BOOLEAN NOT NULL DEFAULT 0;
