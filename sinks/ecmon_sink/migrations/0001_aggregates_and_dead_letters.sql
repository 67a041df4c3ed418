-- 0001: monthly aggregates at every level and the dead letters.
-- Released: never edit; add a new numbered file instead.
-- Works on ClickHouse 18.16 and current servers: no DateTime64, TTL, CODEC, window functions.

CREATE TABLE IF NOT EXISTS {db}.aggregates_monthly
(
    level          Enum8('ENTERPRISE' = 1, 'PREFECTURE' = 2, 'PROVINCE' = 3, 'NATIONAL' = 4),
    entity         String,
    province       String,
    industry_code  String,
    energy_type    String,
    period         Date,
    unit           String,
    physical_milli Int64,
    coal_mgce      Int64,
    readings       UInt64,
    version        UInt64,
    written_at     DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(period)
ORDER BY (level, province, entity, industry_code, energy_type, unit, period);

CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    reason           String,
    detail           String,
    source_topic     String,
    source_partition Int32,
    source_offset    Int64,
    uscc             String,
    message_key      String,
    payload          String,
    rejected_at      DateTime,
    written_at       DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(rejected_at)
ORDER BY (source_topic, source_partition, source_offset, reason, detail);
