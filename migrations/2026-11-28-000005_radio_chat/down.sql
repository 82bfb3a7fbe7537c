DROP TABLE chat_messages;
DROP TABLE radio_stations;
