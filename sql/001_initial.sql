-- 001_initial.sql - accounts, keys, contacts with their summaries, messages
-- and events.
--
-- Every per-account table carries account_id (bigint) first in its primary
-- key and in every unique index, so the data can later be distributed by
-- account without a rewrite.  There are no triggers: the service keeps the
-- summaries current in its own statements, inside the ingest transaction.

CREATE TABLE accounts (
	account_id bigint PRIMARY KEY,
	name text NOT NULL UNIQUE,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE accounts_id_seq START 2 OWNED BY accounts.account_id;

-- The default account serves the unnamed webhook paths and the key given
-- in the environment.
INSERT INTO accounts (account_id, name) VALUES (1, 'default');

-- API keys are stored as SHA-256 of the key; the key itself is shown once.
CREATE TABLE api_keys (
	key_hash bytea PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts,
	key_prefix text NOT NULL,
	label text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now(),
	revoked_at timestamptz
);

CREATE SEQUENCE contacts_pk_seq;

-- One row per contact: identity plus every aggregate a scorecard needs, so
-- that a read is one indexed row.  n, x and t_x are the model's summary over
-- observable messages in send order; history holds the newest 256 of them
-- as '0'/'1' characters, oldest first.
CREATE TABLE contacts (
	account_id bigint NOT NULL REFERENCES accounts,
	contact_pk bigint NOT NULL DEFAULT nextval('contacts_pk_seq'),
	crm_id text,
	email text,
	joined_at timestamptz,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	n integer NOT NULL DEFAULT 0,
	x integer NOT NULL DEFAULT 0,
	t_x integer NOT NULL DEFAULT 0,
	history text NOT NULL DEFAULT '',
	messages_delivered integer NOT NULL DEFAULT 0,
	human_clicks integer NOT NULL DEFAULT 0,
	machine_opens integer NOT NULL DEFAULT 0,
	scanner_clicks integer NOT NULL DEFAULT 0,
	last_open_at timestamptz,
	last_click_at timestamptz,
	hard_bounced boolean NOT NULL DEFAULT false,
	unsubscribed boolean NOT NULL DEFAULT false,
	complained boolean NOT NULL DEFAULT false,
	band smallint NOT NULL DEFAULT 4,
	PRIMARY KEY (account_id, contact_pk)
);

CREATE UNIQUE INDEX contacts_crm_id ON contacts (account_id, crm_id);
-- A contact known only by address is unique per address; contacts with a
-- CRM id may share an address (the CRM decides).
CREATE UNIQUE INDEX contacts_email_only ON contacts (account_id, email)
	WHERE crm_id IS NULL;
CREATE INDEX contacts_email ON contacts (account_id, email);
-- Keyset pagination of one band.
CREATE INDEX contacts_band ON contacts (account_id, band, contact_pk);

-- One row per message (an email to one contact), derived from its events.
-- order_at (the earliest event time) fixes the message's place in the
-- contact's sequence whatever order the events arrive in.
CREATE TABLE messages (
	account_id bigint NOT NULL,
	contact_pk bigint NOT NULL,
	message_id text NOT NULL,
	order_at timestamptz NOT NULL,
	delivered_at timestamptz,
	opened_at timestamptz,
	clicked_at timestamptz,
	machine_opens integer NOT NULL DEFAULT 0,
	scanner_clicks integer NOT NULL DEFAULT 0,
	delivered boolean NOT NULL DEFAULT false,
	opened boolean NOT NULL DEFAULT false,
	bounced boolean NOT NULL DEFAULT false,
	untracked boolean NOT NULL DEFAULT false,
	observable boolean NOT NULL DEFAULT false,
	PRIMARY KEY (account_id, contact_pk, message_id),
	FOREIGN KEY (account_id, contact_pk) REFERENCES contacts
		ON DELETE CASCADE
);

CREATE INDEX messages_opened ON messages (account_id, contact_pk, opened_at)
	WHERE opened_at IS NOT NULL;
CREATE INDEX messages_clicked ON messages (account_id, contact_pk, clicked_at)
	WHERE clicked_at IS NOT NULL;

CREATE SEQUENCE events_pk_seq;

-- Every accepted event, kept raw with its verdict.  (provider, event_key)
-- is the idempotency key: the sender's own event id, or a composite key.
CREATE TABLE events (
	account_id bigint NOT NULL,
	event_pk bigint NOT NULL DEFAULT nextval('events_pk_seq'),
	provider text NOT NULL,
	event_key text NOT NULL,
	contact_pk bigint NOT NULL,
	type smallint NOT NULL,
	message_id text,
	campaign_id text,
	occurred_at timestamptz NOT NULL,
	received_at timestamptz NOT NULL,
	url text,
	user_agent text,
	ip text,
	bounce smallint NOT NULL DEFAULT 0,
	flags integer NOT NULL DEFAULT 0,
	verdict smallint NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, event_pk),
	FOREIGN KEY (account_id, contact_pk) REFERENCES contacts
		ON DELETE CASCADE
);

CREATE UNIQUE INDEX events_idempotency ON events
	(account_id, provider, event_key);
CREATE INDEX events_message ON events (account_id, contact_pk, message_id);

-- Erased contacts: a hash of the identifier, so that a late event does not
-- bring an erased contact back, without keeping the identifier itself.
CREATE TABLE erasures (
	account_id bigint NOT NULL,
	id_hash bytea NOT NULL,
	erased_at timestamptz NOT NULL,
	PRIMARY KEY (account_id, id_hash)
);

-- The fitted model of each account.
CREATE TABLE model_fits (
	account_id bigint PRIMARY KEY REFERENCES accounts,
	fitted_at timestamptz NOT NULL,
	alpha double precision NOT NULL,
	beta double precision NOT NULL,
	gamma double precision NOT NULL,
	delta double precision NOT NULL,
	prior_a double precision NOT NULL,
	prior_b double precision NOT NULL,
	half_life double precision NOT NULL,
	bgbb_weight double precision NOT NULL,
	loglik double precision NOT NULL,
	contacts bigint NOT NULL,
	used_defaults boolean NOT NULL,
	chosen text NOT NULL
);

-- The events that decide suppression, found without scanning a contact's
-- whole history.
CREATE INDEX events_status ON events (account_id, contact_pk)
	WHERE type IN (4, 5, 6);
