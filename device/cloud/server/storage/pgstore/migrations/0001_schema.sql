-- The cloud's tables, for storage.Store. Applied once, in one transaction, by
-- migrate (migrate.go).
--
-- Kept to SQL that PostgreSQL-compatible distributed engines (CockroachDB,
-- YugabyteDB) also take: no triggers, no SERIAL (explicit sequences), no stored
-- procedures, no foreign keys (the Store promises none: a document may name a
-- point not stored, and each key row lives where its own key puts it).
--
-- Keys are text COLLATE "C": lists in "id order" are in Go's byte order
-- whatever the database's default collation. Times are timestamptz, NULL for
-- Go's zero time where a field may be unset (and bytea and arrays NULL for a
-- nil slice, so that nil and empty read back as they were); money is bigint
-- kopecks. What the cloud only hands back whole (a point's settings, a
-- register's health, a fiscalInfo, an alert) is JSONB; a shop's document body
-- is bytea, handed back byte for byte.

-- Queue order of the documents, across all points: a gap (a rolled-back post)
-- costs nothing, and no point's posts wait on a counter row.
CREATE SEQUENCE document_seq;
CREATE SEQUENCE alert_seq;

-- Singletons by name: the sandbox.
CREATE TABLE meta (
	key   text COLLATE "C" PRIMARY KEY,
	value jsonb NOT NULL
);

-- The owners' cabinet accounts.
CREATE TABLE accounts (
	login         text COLLATE "C" PRIMARY KEY,
	password_hash bytea,
	points        text[] -- the points it owns, in the owner's order
);

-- Retail points: the seller's data and the owner's settings (cloud.Point).
CREATE TABLE points (
	id           text COLLATE "C" PRIMARY KEY,
	account      text NOT NULL,
	point        jsonb NOT NULL,
	settings     boolean NOT NULL,
	notify_email text NOT NULL,
	webhook_url  text NOT NULL
);

-- The shops' integration pairs, each bound to one point.
CREATE TABLE shop_logins (
	user_name text COLLATE "C" PRIMARY KEY,
	point_id  text COLLATE "C" NOT NULL,
	client_id text COLLATE "C" NOT NULL,
	salt      bytea,
	hash      bytea,
	UNIQUE (point_id, client_id)
);

-- Registers, by their ID (hex SHA-256 of the bearer token); one per point.
CREATE TABLE registers (
	id        text COLLATE "C" PRIMARY KEY,
	point_id  text COLLATE "C" NOT NULL UNIQUE,
	bound_at  timestamptz NOT NULL,
	last_seen timestamptz,           -- the last heartbeat
	since     timestamptz,
	stopped   boolean NOT NULL DEFAULT false, -- as the last heartbeat said
	health    jsonb,                 -- the last heartbeat's cloud.Health
	resume    boolean NOT NULL DEFAULT false
);

-- The owner's last command to each point's register (storage.Command).
CREATE TABLE commands (
	point_id text COLLATE "C" PRIMARY KEY,
	command  jsonb NOT NULL
);

-- The shops' documents. (point_id, id) is the shop's idempotency key: a post
-- is INSERT … ON CONFLICT DO NOTHING, then a read.
CREATE TABLE documents (
	point_id     text COLLATE "C" NOT NULL,
	id           text COLLATE "C" NOT NULL,
	seq          bigint NOT NULL,   -- queue order; a re-queue takes a new one
	hash         text NOT NULL,     -- of the body: a re-post with another is a conflict
	body         bytea NOT NULL,    -- the document, normalized, as posted
	response_url text NOT NULL,
	state        text NOT NULL,
	changed      timestamptz NOT NULL,
	lease_until  timestamptz,
	lease_owner  text NOT NULL DEFAULT '', -- the register holding the lease
	leases       integer NOT NULL DEFAULT 0,
	requeued     boolean NOT NULL DEFAULT false,
	fiscal_info  jsonb,
	failure_info jsonb,
	message      text NOT NULL,
	created      timestamptz NOT NULL,
	fiscalized   timestamptz,
	ofd_acked    timestamptz,       -- Document.OFDDeliveredAt
	callback_attempts integer NOT NULL DEFAULT 0,
	callback_error    text NOT NULL DEFAULT '',
	-- storage.KindTotal, kept for the cabinet's filters: the body's at the
	-- post, the fiscalInfo's once it is in.
	body_kind  text NOT NULL,
	body_total bigint NOT NULL,
	kind       text NOT NULL,
	total      bigint NOT NULL,
	-- The id in Go's lower case (strings.ToLower), for the cabinet's search:
	-- SQL's lower() folds by the collation, only ASCII under "C".
	id_lower text NOT NULL,
	-- The fiscalInfo's drive, shift and date, for the totals.
	fn_number    text COLLATE "C",
	shift_number integer,
	fiscal_date  timestamptz,
	PRIMARY KEY (point_id, id)
);
-- Leasing walks a point's waiting and leased documents in queue order; the
-- partial index holds only those, not the millions already reported.
CREATE INDEX documents_queue ON documents (point_id, seq)
	WHERE state IN ('QUEUED', 'PENDING', 'REQUEUED');
-- The cabinet's list: newest first per point, keyset-paged on (created, id).
CREATE INDEX documents_created ON documents (point_id, created DESC, id DESC);
-- The totals: of a day's receipts, or of a shift's.
CREATE INDEX documents_fiscal_date ON documents (point_id, fiscal_date) WHERE fiscal_info IS NOT NULL;
CREATE INDEX documents_shift ON documents (point_id, fn_number, shift_number) WHERE fiscal_info IS NOT NULL;

-- Fiscal documents the OFD has not yet acknowledged, per drive.
CREATE TABLE unacked (
	point_id text COLLATE "C" NOT NULL,
	drive    text COLLATE "C" NOT NULL, -- the drive's number
	fd       bigint NOT NULL,
	doc_id   text COLLATE "C" NOT NULL,
	PRIMARY KEY (point_id, drive, fd)
);

-- Callbacks due to the shops' responseURLs (storage.CallbackJob). A node holds
-- a due job (owner, until), taken with SELECT … FOR UPDATE SKIP LOCKED, so one
-- node at a time posts it; a node that dies lets it fall due again.
CREATE TABLE callback_jobs (
	point_id text COLLATE "C" NOT NULL,
	doc_id   text COLLATE "C" NOT NULL,
	seq      bigint NOT NULL,  -- the document's when the job was made
	due      timestamptz NOT NULL,
	refusals integer NOT NULL DEFAULT 0,
	owner    text NOT NULL DEFAULT '',
	until    timestamptz,
	PRIMARY KEY (point_id, doc_id)
);
CREATE INDEX callback_jobs_due ON callback_jobs (due);

-- Open alerts: one per point, kind and document ('' for a point's own).
CREATE TABLE incidents (
	point_id text COLLATE "C" NOT NULL,
	kind     text COLLATE "C" NOT NULL,
	doc_id   text COLLATE "C" NOT NULL,
	message  text NOT NULL,
	since    timestamptz NOT NULL,
	PRIMARY KEY (point_id, kind, doc_id)
);

-- Each alert on each channel to each address: the cabinet's alert log and,
-- while not done, its destination's outbox.
CREATE TABLE alert_log (
	seq      bigint PRIMARY KEY,
	point_id text COLLATE "C" NOT NULL,
	alert    jsonb NOT NULL,
	channel  text COLLATE "C" NOT NULL, -- email, webhook
	dest     text COLLATE "C" NOT NULL,
	attempts integer NOT NULL,
	sent     boolean NOT NULL,
	done     boolean NOT NULL,
	error    text NOT NULL,
	changed  timestamptz NOT NULL
);
CREATE INDEX alert_log_point ON alert_log (point_id, seq DESC);
CREATE INDEX alert_log_outbox ON alert_log (channel, dest, seq) WHERE NOT done;

-- The destinations: appending to one locks its row before taking a Seq, and
-- so does claiming it, so entries go out in Seq order; owner and until are
-- the node that holds it, sending.
CREATE TABLE alert_outboxes (
	channel text COLLATE "C" NOT NULL,
	dest    text COLLATE "C" NOT NULL,
	owner   text NOT NULL DEFAULT '',
	until   timestamptz,
	PRIMARY KEY (channel, dest)
);

-- Cabinet sessions, by the SHA-256 of their cookie.
CREATE TABLE sessions (
	key     text COLLATE "C" PRIMARY KEY,
	login   text NOT NULL,
	csrf    text NOT NULL,
	expires timestamptz NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires);
