-- heso fleet store, schema version 1.
--
-- Append-only by construction: every table refuses UPDATE, DELETE and TRUNCATE for every
-- role (a trigger, which a superuser can only get around by disabling it, and which
-- `heso fleet verify` does not rely on: it re-checks every stored byte). Hosts log in as
-- their own roles, members of `heso_host` (INSERT and SELECT only); `heso_reader` can only
-- read. A receipt is stored only as the successor of the receipt stored before it in its
-- log; anything else is refused and kept in `forks`, for people to see.

CREATE SCHEMA IF NOT EXISTS heso;

-- One row per log: a project's receipts.jsonl, keyed by its log id (the log's session id).
CREATE TABLE heso.logs (
    log_id        text PRIMARY KEY CHECK (log_id ~ '^[!-~]{1,128}$' AND log_id !~ '[+/]'),
    origin        text NOT NULL UNIQUE,
    -- The operator key the log's receipts and checkpoints must be signed with (did:key).
    operator_key  text NOT NULL CHECK (operator_key LIKE 'did:key:z6Mk%'),
    host_name     text NOT NULL,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    -- The database role that registered the log: only it may add to the log.
    registered_by text NOT NULL DEFAULT session_user
);

-- The approver keys a log's heso.toml named when it was pushed. A key's latest row says
-- until when its approvals count (empty: no end).
CREATE TABLE heso.approvers (
    log_id        text NOT NULL REFERENCES heso.logs,
    approver_key  text NOT NULL CHECK (approver_key LIKE 'did:key:z6Mk%'),
    name          text NOT NULL,
    until         text NOT NULL DEFAULT '',
    registered_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (log_id, approver_key, until)
);

CREATE TABLE heso.receipts (
    log_id            text NOT NULL REFERENCES heso.logs,
    -- 0-based position in the log: the receipt's leaf index in the log's Merkle tree.
    position          bigint NOT NULL CHECK (position >= 0),
    session_id        text NOT NULL,
    seq               bigint NOT NULL,
    action_hash       text COLLATE "C" NOT NULL CHECK (action_hash ~ '^[0-9a-f]{64}$'),
    prev_receipt_hash text COLLATE "C",
    -- The prev_receipt_hash the next receipt of the log must carry (the chain link
    -- computed by the pushing host; fleet verify recomputes it from the bytes).
    next_link         text COLLATE "C" NOT NULL,
    -- The receipt exactly as the host's log holds it (one line, without its newline).
    receipt           bytea NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    -- Copied out of the receipt for the queries; fleet verify checks they match it.
    captured_at       timestamptz NOT NULL,
    verb              text NOT NULL,
    tool_name         text NOT NULL,
    workflow          text NOT NULL,
    decision          text NOT NULL,
    trust_level       text NOT NULL,
    PRIMARY KEY (log_id, position),
    CHECK (session_id = log_id),
    CHECK (seq = position)
);
CREATE INDEX receipts_action_hash ON heso.receipts (action_hash);
CREATE INDEX receipts_captured_at ON heso.receipts (captured_at);
CREATE INDEX receipts_workflow ON heso.receipts (workflow, captured_at);

-- Signed checkpoints (C2SP tlog-checkpoint notes) of each log, as pushed.
CREATE TABLE heso.checkpoints (
    log_id      text NOT NULL REFERENCES heso.logs,
    size        bigint NOT NULL CHECK (size >= 0),
    root        bytea NOT NULL CHECK (length(root) = 32),
    note        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (log_id, size)
);

-- Witness cosignatures of stored checkpoints: the witness's C2SP verifier key and its
-- signature line.
CREATE TABLE heso.cosignatures (
    log_id         text NOT NULL,
    size           bigint NOT NULL,
    witness_key    text NOT NULL,
    signature_line text NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (log_id, size, witness_key),
    FOREIGN KEY (log_id, size) REFERENCES heso.checkpoints
);

-- What the store refused to add: a receipt that does not follow the stored predecessor, a
-- different receipt at a stored position, a checkpoint whose root differs from a stored
-- one of the same size. Written by the insert triggers, never by a host.
CREATE TABLE heso.forks (
    id          bigserial PRIMARY KEY,
    log_id      text NOT NULL,
    kind        text NOT NULL,
    position    bigint,
    action_hash text,
    receipt     bytea,
    note        text,
    reason      text NOT NULL,
    db_user     text NOT NULL DEFAULT session_user,
    xact        bigint NOT NULL DEFAULT txid_current(),
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX forks_log ON heso.forks (log_id, xact);

-- ---- append-only: no UPDATE, DELETE or TRUNCATE, for any role ----

CREATE FUNCTION heso.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'heso: % on %.% is refused: the fleet store is append-only',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['logs', 'approvers', 'receipts', 'checkpoints', 'cosignatures', 'forks'] LOOP
        -- A statement trigger: refused even when it would touch no row.
        EXECUTE format('CREATE TRIGGER append_only BEFORE UPDATE OR DELETE OR TRUNCATE '
                       'ON heso.%I FOR EACH STATEMENT EXECUTE FUNCTION heso.refuse_change()', t);
    END LOOP;
END
$$;

-- ---- a receipt is stored only as the successor of its stored predecessor ----

CREATE FUNCTION heso.receipt_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    held record;
    pred record;
    why  text;
BEGIN
    SELECT r.action_hash, r.receipt INTO held
        FROM heso.receipts r WHERE r.log_id = NEW.log_id AND r.position = NEW.position;
    IF FOUND THEN
        IF held.action_hash = NEW.action_hash AND held.receipt = NEW.receipt THEN
            RETURN NULL; -- already stored: a second push stores nothing twice
        END IF;
        why := format('position %s already holds receipt %s', NEW.position, held.action_hash);
    ELSIF NEW.position = 0 THEN
        IF NEW.prev_receipt_hash IS NOT NULL THEN
            why := 'the first receipt of a log has a prev_receipt_hash';
        END IF;
    ELSE
        SELECT r.next_link INTO pred
            FROM heso.receipts r WHERE r.log_id = NEW.log_id AND r.position = NEW.position - 1;
        IF NOT FOUND THEN
            why := format('position %s is not stored, so %s cannot follow it',
                          NEW.position - 1, NEW.position);
        ELSIF NEW.prev_receipt_hash IS DISTINCT FROM pred.next_link THEN
            why := format('prev_receipt_hash does not link to the receipt stored at position %s',
                          NEW.position - 1);
        END IF;
    END IF;
    IF why IS NULL THEN
        NEW.received_at := now();
        RETURN NEW;
    END IF;
    INSERT INTO heso.forks (log_id, kind, position, action_hash, receipt, reason)
        VALUES (NEW.log_id, 'receipt', NEW.position, NEW.action_hash, NEW.receipt, why);
    RETURN NULL;
END
$$;
CREATE TRIGGER follows_predecessor BEFORE INSERT ON heso.receipts
    FOR EACH ROW EXECUTE FUNCTION heso.receipt_insert();

CREATE FUNCTION heso.checkpoint_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    held   record;
    stored bigint;
BEGIN
    SELECT c.root INTO held FROM heso.checkpoints c
        WHERE c.log_id = NEW.log_id AND c.size = NEW.size;
    IF FOUND THEN
        IF held.root = NEW.root THEN
            RETURN NULL; -- already stored
        END IF;
        INSERT INTO heso.forks (log_id, kind, position, note, reason)
            VALUES (NEW.log_id, 'checkpoint', NEW.size, NEW.note,
                    format('a checkpoint of size %s with another root is stored', NEW.size));
        RETURN NULL;
    END IF;
    SELECT coalesce(max(r.position) + 1, 0) INTO stored
        FROM heso.receipts r WHERE r.log_id = NEW.log_id;
    IF NEW.size > stored THEN
        RAISE EXCEPTION 'heso: a checkpoint of size % for log % is refused: only % receipts are stored',
            NEW.size, NEW.log_id, stored USING ERRCODE = 'check_violation';
    END IF;
    NEW.received_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER covers_stored BEFORE INSERT ON heso.checkpoints
    FOR EACH ROW EXECUTE FUNCTION heso.checkpoint_insert();

-- ---- a host adds only to the logs it registered ----

CREATE FUNCTION heso.log_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.registered_by := session_user;
    NEW.first_seen := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER registered_by_session BEFORE INSERT ON heso.logs
    FOR EACH ROW EXECUTE FUNCTION heso.log_insert();

CREATE FUNCTION heso.own_logs_only() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    other text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user AND rolsuper) THEN
        RETURN NULL;
    END IF;
    SELECT n.log_id INTO other FROM new_rows n JOIN heso.logs l USING (log_id)
        WHERE l.registered_by <> session_user LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'heso: role % may not add to log %, which another role registered',
            session_user, other USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['approvers', 'receipts', 'checkpoints', 'cosignatures'] LOOP
        EXECUTE format('CREATE TRIGGER own_logs_only AFTER INSERT ON heso.%I '
                       'REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION heso.own_logs_only()', t);
    END LOOP;
END
$$;

-- ---- roles ----

DO $$
BEGIN
    BEGIN
        CREATE ROLE heso_host NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    BEGIN
        CREATE ROLE heso_reader NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END
$$;

REVOKE ALL ON SCHEMA heso FROM PUBLIC;
GRANT USAGE ON SCHEMA heso TO heso_host, heso_reader;
GRANT SELECT, INSERT ON heso.logs, heso.approvers, heso.receipts, heso.checkpoints,
    heso.cosignatures TO heso_host;
GRANT SELECT ON heso.forks, heso.schema_migrations TO heso_host;
GRANT SELECT ON ALL TABLES IN SCHEMA heso TO heso_reader;
REVOKE ALL ON FUNCTION heso.receipt_insert(), heso.checkpoint_insert(), heso.own_logs_only(),
    heso.log_insert(), heso.refuse_change() FROM PUBLIC;
