-- 004_summary_tail.sql - where each contact's observable sequence ends.
--
-- A merge advances a contact's summary (n, x, t_x, history) from the
-- messages it changed instead of recomputing it from all of them, when the
-- change is at the end of the sequence.  The end is the ordering key
-- (order_at, message_id compared byte by byte) of the newest observable
-- message, kept here as microseconds since 1970 and the id; once that
-- message stops being observable the key stays, as a bound above every
-- observable message.  NULL with n = 0: no observable message yet; NULL
-- with n > 0 (rows written before this migration, or an id too long to
-- keep): not known, and the contact's next merge recomputes it in full,
-- which sets the key.

ALTER TABLE contacts
	ADD COLUMN tail_order_us bigint,
	ADD COLUMN tail_message_id text;
