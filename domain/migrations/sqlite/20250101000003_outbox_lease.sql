-- One outbox forwarder at a time: the holder of this lease forwards, the others wait
-- for it to expire (several servers share one database; without the lease each would
-- publish every row).
CREATE TABLE outbox_lease (
    id         INTEGER NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);

INSERT INTO outbox_lease (id, holder, expires_at) VALUES (1, '', 0);
