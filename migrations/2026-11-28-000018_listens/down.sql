DROP TABLE listens;
