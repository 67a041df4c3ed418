-- CO2 from energy consumption beside standard coal (ecmon/emission_factors.py, docs/analyst-guide.md "Carbon next
-- to coal"), in grams (1 tCO2 = 10^6 g). Aggregates: co2_g and its scope (direct = fuels burnt on site, scope 1;
-- indirect = purchased electricity and heat, scope 2; none = energy-consuming working media). Rows written before
-- this migration read co2_g = 0 and an empty scope until the worker sends them again with a higher version.
-- Monthly reports: NULL for reports made before CO2 was carried (unknown, not zero).
-- ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS: `ecmon db migrate` skips adding a column that exists, so a
-- migration interrupted half-way can run again.
ALTER TABLE {each_db}.aggregates_monthly ADD COLUMN co2_g Int64 DEFAULT 0 AFTER version;

ALTER TABLE {each_db}.aggregates_monthly ADD COLUMN co2_scope String DEFAULT '' AFTER co2_g;

ALTER TABLE {each_db}.monthly_reports ADD COLUMN total_co2_g Nullable(Int64) AFTER revision_reason;

ALTER TABLE {each_db}.monthly_reports ADD COLUMN total_direct_co2_g Nullable(Int64) AFTER total_co2_g;

ALTER TABLE {each_db}.monthly_reports ADD COLUMN total_indirect_co2_g Nullable(Int64) AFTER total_direct_co2_g;

ALTER TABLE {each_db}.monthly_report_totals ADD COLUMN co2_g Nullable(Int64) AFTER change_yoy_bp;

ALTER TABLE {each_db}.monthly_report_enterprises ADD COLUMN co2_g Nullable(Int64) AFTER completeness_bp;
