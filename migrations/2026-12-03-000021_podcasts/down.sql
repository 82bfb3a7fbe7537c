DROP TABLE podcast_episodes;
DROP TABLE podcast_channels;
