-- Which music folders each user may see: NULL means every folder, including folders added
-- later; otherwise a comma-separated list of music folder ids (possibly empty: none).
ALTER TABLE users ADD COLUMN folders TEXT;
