DROP TABLE play_queue_entries;
DROP TABLE play_queues;
DROP TABLE bookmarks;
DROP TABLE playlist_entries;
DROP TABLE playlists;
DROP TABLE annotations;
DROP TABLE users;
