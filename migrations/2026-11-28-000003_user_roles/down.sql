ALTER TABLE users DROP COLUMN max_bit_rate;
ALTER TABLE users DROP COLUMN roles;
