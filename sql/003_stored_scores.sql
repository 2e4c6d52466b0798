-- 003_stored_scores.sql - the model's numbers stored with each contact.
--
-- The writer already scores every contact it touches (to set its band), and
-- a refit re-scores every contact, so keeping all the numbers makes a
-- scorecard read pure formatting: its cost no longer grows with the length
-- of the contact's history.  NULL score: never scored (created by PUT with
-- no events yet); the reader then scores the empty summary itself.

ALTER TABLE contacts
	ADD COLUMN score real,
	ADD COLUMN predicted_open_rate double precision,
	ADD COLUMN p_alive double precision,
	ADD COLUMN risk double precision,
	ADD COLUMN recommendation smallint,
	ADD COLUMN confidence smallint,
	ADD COLUMN trend smallint;
