-- One outbox forwarder at a time: the holder of this lease forwards, the others wait
-- for it to expire (several servers share one database; without the lease each would
-- publish every row).
CREATE TABLE outbox_lease (
    id         BIGINT      NOT NULL PRIMARY KEY,
    holder     VARCHAR(64) NOT NULL,
    expires_at BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

INSERT INTO outbox_lease (id, holder, expires_at) VALUES (1, '', 0);
