-- 0003: accepted production output (topic ecmon.production-accepted.v1), for unit-product energy consumption.
-- Released: never edit; add a new numbered file instead.
-- Works on ClickHouse 18.16 and current servers: no DateTime64, TTL, CODEC, window functions,
-- LowCardinality or Nullable in keys.
--
-- One row per enterprise, product and production period. A resend carries the same sent_at and changes
-- nothing; a corrected figure for the same period carries a later sent_at and replaces the old one
-- (ReplacingMergeTree keeps the highest version = sent_at in epoch ms). Query with argMax(x, version)
-- grouped by the key, never plain sum() over the table. period is the China Standard Time month of
-- period_end - 1 ms (first day). The national database and each province database hold the same table;
-- the province is the registration region of the enterprise's USCC (GB 32100 characters 3-8).

CREATE TABLE IF NOT EXISTS {each_db}.production
(
    uscc           String,
    product_code   String,
    period_start   DateTime,
    period_end     DateTime,
    period         Date,
    product_name   String,
    quantity_milli Int64,
    unit           String,
    province       String,
    gateway_id     String,
    batch_id       String,
    sent_at        DateTime,
    version        UInt64,
    written_at     DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(period)
ORDER BY (uscc, product_code, period_start, period_end);
