-- 0010: the monthly cycle (issue 18). Released: never edit; add a new numbered file instead.
-- Works on ClickHouse 18.16 and current servers.
--
-- monthly_reports now also holds version 0 of an open month: the province's month-to-date figures
-- (month_to_date = 1; expected intervals up to expected_until, the province's event time), replaced by
-- version 1 when the month is submitted. submission_rule says why it was submitted when it was.
ALTER TABLE {each_db}.monthly_reports ADD COLUMN month_to_date UInt8 DEFAULT 0 AFTER revision_reason;

ALTER TABLE {each_db}.monthly_reports ADD COLUMN expected_until DateTime DEFAULT toDateTime(0) AFTER month_to_date;

ALTER TABLE {each_db}.monthly_reports ADD COLUMN submission_rule String DEFAULT '' AFTER expected_until;

-- The feedback says whether its shares and ranks are provisional (provinces still to report) or final.
ALTER TABLE {each_db}.national_feedback ADD COLUMN final UInt8 DEFAULT 0 AFTER failing_completeness_bp;

ALTER TABLE {each_db}.national_feedback ADD COLUMN provinces_expected UInt32 DEFAULT 0 AFTER final;

-- Every submitted version of every province's monthly report (monthly_reports keeps the newest only):
-- the submission and its revisions, with what changed. One row per (province, period, version).
CREATE TABLE IF NOT EXISTS {each_db}.monthly_report_versions
(
    province                 String,
    period                   Date,
    version                  UInt64,
    closed_at                DateTime,
    submission_rule          String,
    total_coal_mgce          Int64,
    previous_total_coal_mgce Nullable(Int64),
    received                 UInt64,
    expected                 UInt64,
    completeness_bp          Int64,
    consistent               UInt8,
    revised                  UInt8,
    revision_reason          String,
    written_at               DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (province, period, version);
