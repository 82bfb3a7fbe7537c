DROP TABLE scrobble_outbox;
DROP TABLE scrobble_prefs;
DROP TABLE scrobble_links;
