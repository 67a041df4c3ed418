-- 0002: a database per province and the analyst tables.
-- Released: never edit; add a new numbered file instead.
-- Works on ClickHouse 18.16 and current servers: no DateTime64, TTL, CODEC, window functions,
-- LowCardinality or Nullable in keys.
--
-- Placeholders (sinks/migrate.py): {db} is the national database; a statement naming {province_db} runs
-- once for each of the 31 province databases (ecmon_110000 ... ecmon_650000); a statement naming {each_db}
-- runs for the national database and then every province database, so both hold the same columns.
-- The sink writes every row to the national table and the province's rows also to the province's table.
-- Every table keeps the highest version per natural key (ReplacingMergeTree): query with argMax(x, version)
-- or GROUP BY the key, never plain sum() over the table, because replayed rows stay until a merge.

CREATE DATABASE IF NOT EXISTS {province_db};

CREATE TABLE IF NOT EXISTS {province_db}.aggregates_monthly
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

-- The monitoring coverage list (registry topic): one row per enterprise, newest registry record wins
-- (version = Kafka offset of the record in its compacted partition, which grows per key).
CREATE TABLE IF NOT EXISTS {each_db}.enterprises
(
    uscc               String,
    name               String,
    region_code        String,
    province           String,
    prefecture         String,
    industry_code      String,
    tier               String,
    meter_ids          Array(String),
    meter_energy_types Array(String),
    meter_units        Array(String),
    meter_interval_s   Array(UInt32),
    valid_from         DateTime,
    version            UInt64,
    written_at         DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
ORDER BY uscc;

-- Normalised readings: consumption of one meter over one interval, idempotent on (uscc, meter_id,
-- interval_end). period is the China Standard Time month of the interval (first day).
CREATE TABLE IF NOT EXISTS {each_db}.readings
(
    uscc           String,
    meter_id       String,
    interval_end   DateTime,
    interval_start DateTime,
    period         Date,
    energy_type    String,
    unit           String,
    physical_milli Int64,
    coal_mgce      Int64,
    quality        String,
    province       String,
    region_code    String,
    industry_code  String,
    batch_id       String,
    version        UInt64,
    written_at     DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(period)
ORDER BY (uscc, meter_id, interval_end);

-- Anomaly events of the detectors (meter, enterprise and region level); a re-detection keeps its id.
CREATE TABLE IF NOT EXISTS {each_db}.anomalies
(
    anomaly_id       String,
    type             String,
    severity         String,
    level            String,
    entity_code      String,
    province         String,
    industry_code    String,
    energy_type      String,
    span_start       DateTime,
    span_end         DateTime,
    observed         Float64,
    expected         Float64,
    unit             String,
    score            Float64,
    detector         String,
    detector_version String,
    detail           String,
    detected_at      DateTime,
    version          UInt64,
    written_at       DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(span_start)
ORDER BY (province, anomaly_id);

-- A province's monthly report at month close (one row per province x month, highest version wins) ...
CREATE TABLE IF NOT EXISTS {each_db}.monthly_reports
(
    province                  String,
    period                    Date,
    version                   UInt64,
    closed_at                 DateTime,
    total_coal_mgce           Int64,
    change_mom_bp             Nullable(Int64),
    change_yoy_bp             Nullable(Int64),
    received                  UInt64,
    expected                  UInt64,
    completeness_bp           Int64,
    completeness_threshold_bp Int64,
    consistent                UInt8,
    written_at                DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (province, period);

-- ... its totals by industry and energy type (rows of the report's version) ...
CREATE TABLE IF NOT EXISTS {each_db}.monthly_report_totals
(
    province       String,
    period         Date,
    version        UInt64,
    industry_code  String,
    energy_type    String,
    unit           String,
    physical_milli Int64,
    coal_mgce      Int64,
    enterprises    UInt32,
    change_mom_bp  Nullable(Int64),
    change_yoy_bp  Nullable(Int64),
    written_at     DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (province, period, industry_code, energy_type, unit);

-- ... and the completeness of each of its enterprises.
CREATE TABLE IF NOT EXISTS {each_db}.monthly_report_enterprises
(
    province        String,
    period          Date,
    version         UInt64,
    uscc            String,
    industry_code   String,
    coal_mgce       Int64,
    received        UInt64,
    expected        UInt64,
    completeness_bp Int64,
    written_at      DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (province, period, uscc);

-- The national level's feedback to a province's monthly report; rankings and failing enterprises as
-- parallel arrays (ARRAY JOIN them).
CREATE TABLE IF NOT EXISTS {each_db}.national_feedback
(
    province                   String,
    period                     Date,
    version                    UInt64,
    generated_at               DateTime,
    provinces_reported         UInt32,
    national_coal_mgce         Int64,
    province_coal_mgce         Int64,
    share_bp                   Int64,
    province_rank              UInt32,
    completeness_threshold_bp  Int64,
    province_completeness_bp   Int64,
    industry_codes             Array(String),
    industry_coal_mgce         Array(Int64),
    industry_national_coal_mgce Array(Int64),
    industry_share_bp          Array(Int64),
    industry_rank              Array(UInt32),
    industry_provinces         Array(UInt32),
    failing_uscc               Array(String),
    failing_received           Array(Int64),
    failing_expected           Array(Int64),
    failing_completeness_bp    Array(Int64),
    written_at                 DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (province, period);
