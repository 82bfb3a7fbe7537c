DROP INDEX albums_present;
DROP INDEX albums_by_year;
DROP INDEX albums_by_created;
DROP INDEX albums_by_artist;
DROP INDEX albums_by_name;
