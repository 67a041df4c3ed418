-- A closed month changes only by an explicit revision (docs/operations.md, "Late data and closed months"):
-- each report version says whether it is one, the total of the version it revises, and what changed.
-- Rows written before this migration read as version 1 reports (revised = 0).
ALTER TABLE {each_db}.monthly_reports ADD COLUMN revised UInt8 DEFAULT 0 AFTER consistent;

ALTER TABLE {each_db}.monthly_reports ADD COLUMN previous_total_coal_mgce Nullable(Int64) AFTER revised;

ALTER TABLE {each_db}.monthly_reports ADD COLUMN revision_reason String DEFAULT '' AFTER previous_total_coal_mgce;
