-- Paging through every present song in id order (the empty search that clients use to sync a
-- library) skips rows in this small covering index instead of visiting every track row, so the
-- last page costs about what the first does.
CREATE INDEX tracks_present_paging ON tracks(id, folder_id) WHERE missing_since IS NULL;
