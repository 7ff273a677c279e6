-- heso fleet store, schema version 2: the same rules on heso.receipts, cheaper per row.
--
-- Version 1 spent about twice a bare insert's server time per receipt on its rules (see
-- docs/benchmarks.md). Each rule stays; what changes is how it is checked:
--
-- - The foreign key to heso.logs (an internal trigger and one lookup per row) becomes a
--   check per statement, over the statement's new rows at once, in the statement trigger
--   that already checks the inserting role registered the log. It applies to every role,
--   superusers included, as the foreign key did.
-- - The action_hash pattern (a regular expression per row) becomes the same rule in plain
--   functions: 64 bytes that decode from hex to 32 bytes (which leaves no room for the
--   whitespace decode() skips) and are lower case.
-- - The insert trigger looks up the log's stored head (one backward index probe) and
--   accepts its successor at once; anything else (a stored position, a gap, a broken link,
--   a first receipt) goes to heso.receipt_accepted(), which decides with version 1's logic
--   and records the fork. The trigger runs with the inserting role's rights (hosts may
--   read heso.receipts): no SECURITY DEFINER and no SET search_path to set up and tear
--   down per row. So that the caller's search_path cannot change what it means, every
--   operator, function and type in it is schema-qualified.
--
-- Upgrading a version 1 store in place: constraints and functions are swapped in one
-- transaction (`heso fleet migrate`); the new action_hash check is validated against the
-- stored rows, which the old, stricter-looking pattern already held to the same rule.

-- ---- a receipt's log must be registered: per statement instead of per row ----

DO $$
DECLARE c text;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'heso.receipts'::regclass AND contype = 'f'
               AND confrelid = 'heso.logs'::regclass LOOP
        EXECUTE format('ALTER TABLE heso.receipts DROP CONSTRAINT %I', c);
    END LOOP;
END
$$;

CREATE FUNCTION heso.receipts_own_logs() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    log   record;
    super boolean;
BEGIN
    SELECT rolsuper INTO super FROM pg_roles WHERE rolname = session_user;
    FOR log IN SELECT n.log_id, l.registered_by
               FROM (SELECT DISTINCT log_id FROM new_rows) n
               LEFT JOIN heso.logs l USING (log_id) LOOP
        IF log.registered_by IS NULL THEN
            RAISE EXCEPTION 'heso: receipts of log % are refused: the log is not registered in heso.logs',
                log.log_id USING ERRCODE = 'foreign_key_violation';
        END IF;
        IF log.registered_by <> session_user AND NOT coalesce(super, false) THEN
            RAISE EXCEPTION 'heso: role % may not add to log %, which another role registered',
                session_user, log.log_id USING ERRCODE = 'insufficient_privilege';
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
DROP TRIGGER own_logs_only ON heso.receipts;
CREATE TRIGGER own_logs_only AFTER INSERT ON heso.receipts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION heso.receipts_own_logs();

-- ---- the action_hash rule without a regular expression ----

DO $$
DECLARE c text;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'heso.receipts'::regclass AND contype = 'c'
               AND pg_get_constraintdef(oid) LIKE '%action_hash ~ %' LOOP
        EXECUTE format('ALTER TABLE heso.receipts DROP CONSTRAINT %I', c);
    END LOOP;
END
$$;
ALTER TABLE heso.receipts ADD CONSTRAINT receipts_action_hash_hex CHECK (
    octet_length(action_hash) = 64
    AND octet_length(decode(action_hash, 'hex')) = 32
    AND action_hash = lower(action_hash)
);

-- ---- a receipt is stored only as the successor of its stored predecessor ----

-- Version 1's rule, unchanged, for a receipt that is not the successor of its log's stored
-- head: true when the receipt may be stored (its position is not stored, and it is the
-- first receipt of its log or links to the receipt stored before it); the same receipt
-- again is skipped (false); anything else is recorded in heso.forks and refused (false).
-- It runs as the owner (hosts cannot write heso.forks), so it first refuses rows of logs
-- the caller did not register: called directly, it records nothing a host could not
-- record by inserting the row.
CREATE FUNCTION heso.receipt_accepted(r heso.receipts) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    held  record;
    pred  record;
    owner text;
    why   text;
BEGIN
    SELECT l.registered_by INTO owner FROM heso.logs l WHERE l.log_id = r.log_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'heso: receipts of log % are refused: the log is not registered in heso.logs',
            r.log_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF owner <> session_user
       AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user AND rolsuper) THEN
        RAISE EXCEPTION 'heso: role % may not add to log %, which another role registered',
            session_user, r.log_id USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT h.action_hash, h.receipt INTO held
        FROM heso.receipts h WHERE h.log_id = r.log_id AND h.position = r.position;
    IF FOUND THEN
        IF held.action_hash = r.action_hash AND held.receipt = r.receipt THEN
            RETURN false; -- already stored: a second push stores nothing twice
        END IF;
        why := format('position %s already holds receipt %s', r.position, held.action_hash);
    ELSIF r.position = 0 THEN
        IF r.prev_receipt_hash IS NULL THEN
            RETURN true;
        END IF;
        why := 'the first receipt of a log has a prev_receipt_hash';
    ELSE
        SELECT h.next_link INTO pred
            FROM heso.receipts h WHERE h.log_id = r.log_id AND h.position = r.position - 1;
        IF NOT FOUND THEN
            why := format('position %s is not stored, so %s cannot follow it',
                          r.position - 1, r.position);
        ELSIF r.prev_receipt_hash IS DISTINCT FROM pred.next_link THEN
            why := format('prev_receipt_hash does not link to the receipt stored at position %s',
                          r.position - 1);
        ELSE
            RETURN true;
        END IF;
    END IF;
    INSERT INTO heso.forks (log_id, kind, position, action_hash, receipt, reason)
        VALUES (r.log_id, 'receipt', r.position, r.action_hash, r.receipt, why);
    RETURN false;
END
$$;

-- The fast path: one probe for the log's stored head (its highest position); the row that
-- is its successor and carries its link is stored. Everything else is decided above.
CREATE FUNCTION heso.receipt_follows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head record;
BEGIN
    SELECT h.position, h.next_link INTO head
        FROM heso.receipts h
        WHERE h.log_id OPERATOR(pg_catalog.=) NEW.log_id
        ORDER BY h.position DESC LIMIT 1;
    IF FOUND
       AND NEW.position OPERATOR(pg_catalog.=) (head.position OPERATOR(pg_catalog.+) 1)
       AND NEW.prev_receipt_hash OPERATOR(pg_catalog.=) head.next_link THEN
        NEW.received_at := pg_catalog.now();
        RETURN NEW;
    END IF;
    IF heso.receipt_accepted(NEW) THEN
        NEW.received_at := pg_catalog.now();
        RETURN NEW;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER follows_predecessor ON heso.receipts;
CREATE TRIGGER follows_predecessor BEFORE INSERT ON heso.receipts
    FOR EACH ROW EXECUTE FUNCTION heso.receipt_follows();
DROP FUNCTION heso.receipt_insert();

REVOKE ALL ON FUNCTION heso.receipts_own_logs(), heso.receipt_accepted(heso.receipts)
    FROM PUBLIC;
-- The insert trigger calls it with the inserting role's rights.
GRANT EXECUTE ON FUNCTION heso.receipt_accepted(heso.receipts) TO heso_host;
