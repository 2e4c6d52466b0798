-- 005_contacts_fillfactor.sql - room on each page of contacts for its
-- own next version.
--
-- Every merge rewrites the row of each contact it touched (summary and
-- scores, one UPDATE).  When the new version fits on the same page and no
-- indexed column changed, PostgreSQL keeps it there without touching the
-- five indexes of the table (a heap-only update); on pages filled to the
-- brim it cannot, and half of the benchmark's contact updates paid for
-- five index insertions.  Pages are now filled to 80 %, which holds about
-- one new version per row.  It applies to pages written from now on: an
-- existing table gains it as rows move, or at once with VACUUM FULL.

ALTER TABLE contacts SET (fillfactor = 80);
