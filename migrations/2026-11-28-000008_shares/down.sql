DROP TABLE share_entries;
DROP TABLE shares;
