-- 0012: what analysts need beside the figures: the names behind the codes, the data dictionary, the targets and
-- quotas, and the coverage list with its history.
-- Released: never edit; add a new numbered file instead.
-- Works on ClickHouse 18.16 and current servers: no DateTime64, TTL, CODEC, window functions,
-- LowCardinality or Nullable in keys.
--
-- The name tables and the data dictionary are filled (and kept current) by `ecmon db migrate` from the kernel's
-- code lists (sinks/ecmon_sink/reference.py: GB/T 2260 regions, GB/T 4754 industries, GB/T 2589 energy types,
-- units, quota standards), so there is one source for every name; the same step writes the dictionary's
-- column descriptions as column comments (ALTER ... COMMENT COLUMN works on 18.16; table comments do not, hence
-- the data_dictionary table). Each province database holds the same tables: a provincial analyst, confined to
-- it, joins names without reading the national database. After `ecmon db migrate` they hold one row per code.

CREATE TABLE IF NOT EXISTS {each_db}.data_dictionary
(
    table_name    String,
    column_name   String,
    description   String,
    unit          String,
    version       UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (table_name, column_name);

CREATE TABLE IF NOT EXISTS {each_db}.regions
(
    code      String,
    name      String,
    level     String,
    province  String,
    version   UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY code;

CREATE TABLE IF NOT EXISTS {each_db}.industries
(
    code      String,
    name_zh   String,
    name_en   String,
    division  String,
    version   UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY code;

CREATE TABLE IF NOT EXISTS {each_db}.energy_types
(
    code            String,
    name_zh         String,
    name_en         String,
    canonical_unit  String,
    kgce_per_unit   String,
    source          String,
    version         UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY code;

CREATE TABLE IF NOT EXISTS {each_db}.units
(
    code             String,
    name_zh          String,
    dimension        String,
    base_factor      String,
    display_unit     String,
    milli_per_display UInt64,
    version          UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY code;

CREATE TABLE IF NOT EXISTS {each_db}.quota_standards
(
    product_code        String,
    product_zh          String,
    product_en          String,
    unit                String,
    limit_kgce_per_unit String,
    limit_mgce_per_unit Int64,
    standard            String,
    title_zh            String,
    industry_code       String,
    route               String,
    confidence          String,
    version             UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY product_code;

-- Energy-consumption targets of provinces and quotas of enterprises (topic ecmon.targets.v1, avro/v1/target.avsc):
-- one row per (scope, entity, year, month; month 0 = the year), the newest issued_at wins (version).
CREATE TABLE IF NOT EXISTS {each_db}.targets
(
    scope                   String,
    entity_code             String,
    province                String,
    year                    UInt16,
    month                   UInt8,
    coal_mgce               Int64,
    intensity_basis         String,
    product_code            String,
    denominator_unit        String,
    intensity_mgce_per_unit Int64,
    reduction_bp            Nullable(Int64),
    document                String,
    issued_at               DateTime,
    version                 UInt64,
    written_at              DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (scope, entity_code, year, month);

-- Every registry record, not only each enterprise's newest (the enterprises table): the coverage list's history.
-- One row per (uscc, valid_from); a re-issued record for the same start replaces it (version = issued_at).
CREATE TABLE IF NOT EXISTS {each_db}.enterprise_records
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
ORDER BY (uscc, valid_from);
