"""Reference data for analysts, kept current by `ecmon db migrate` (tables of migration 0012).

The names behind the codes come from the kernel's code lists (one source: ecmon/regions.py, industries.py,
energy.py, quota_standards.py), the descriptions of tables and columns from :data:`DICTIONARY` below. Both
are written to the national and every province database. A column's description also becomes its column
comment (``system.columns.comment``; 18.16 has no table comments, so a table's is in ``data_dictionary``
only). Every step compares with what the server holds first, so a second run writes nothing; only columns
that exist get a comment, so a table another migration adds a column to later stays valid.
"""

from __future__ import annotations

import time
from decimal import Decimal

from clickhouse_driver import Client

from ecmon.display_units import UNIT_NAMES_ZH, display_unit
from ecmon.energy import ENERGY_TYPES, UNITS
from ecmon.industries import INDUSTRIES
from ecmon.quota_standards import STANDARDS
from ecmon.regions import all_regions, province_of
from ecmon_sink.databases import province_codes, province_database

MGCE = "mgce (毫克标准煤; 1 tce = 10^9 mgce)"
MILLI = "千分之一计量单位 (thousandths of the unit in column unit)"
#: Columns named alike mean the same in every table that has no description of its own.
COMMON = {
    "province": ("省级行政区划代码 (GB/T 2260), 名称见 regions", ""), "period": ("月份 (该月第一天, 北京时间)", ""),
    "uscc": ("统一社会信用代码 (GB 32100)", ""), "industry_code": ("行业代码 (GB/T 4754-2017), 名称见 industries", ""),
    "energy_type": ("能源品种代码, 名称见 energy_types", ""), "unit": ("单位代码, 见 units", ""),
    "coal_mgce": ("折标准煤量", MGCE), "physical_milli": ("实物消费量", MILLI),
    "revised": ("是否为关账后的修订版 1 / 0", ""), "previous_total_coal_mgce": ("被修订版本的总量", MGCE),
    "revision_reason": ("修订说明", ""), "name": ("名称", ""),
}
_KEY = {"version": "版本号: 同一自然键取最大版本 (argMax(x, version))", "written_at": "写入 ClickHouse 的时间 (UTC)"}

#: table -> (table description, {column: (description, unit)}).
DICTIONARY: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "aggregates_monthly": ("月度能耗汇总: 企业、地市、省、全国各级 x 行业 x 能源品种 x 月 (北京时间自然月)", {
        "level": ("汇总层级 ENTERPRISE / PREFECTURE / PROVINCE / NATIONAL", ""),
        "entity": ("汇总对象: 企业统一社会信用代码或行政区划代码", ""),
        "province": ("省级行政区划代码 (GB/T 2260), 名称见 regions", ""),
        "industry_code": ("行业代码 (GB/T 4754-2017), '*' 为全部行业, 名称见 industries", ""),
        "energy_type": ("能源品种代码, 名称见 energy_types", ""),
        "period": ("月份 (该月第一天, 北京时间)", ""),
        "unit": ("实物量单位代码, 见 units", ""),
        "physical_milli": ("实物消费量", MILLI),
        "coal_mgce": ("折标准煤量 (GB/T 2589)", MGCE),
        "readings": ("计入的计量数据条数", "条"),
    }),
    "enterprises": ("重点用能单位监测名录: 每家企业最新的登记记录 (历史见 enterprise_records)", {
        "uscc": ("统一社会信用代码 (GB 32100)", ""), "name": ("企业名称", ""),
        "region_code": ("注册地行政区划代码 (GB/T 2260)", ""), "province": ("省级行政区划代码", ""),
        "prefecture": ("地级行政区划代码", ""), "industry_code": ("行业代码 (GB/T 4754-2017)", ""),
        "tier": ("监测级别", ""), "meter_ids": ("计量器具编号", ""), "meter_energy_types": ("各计量器具的能源品种", ""),
        "meter_units": ("各计量器具的单位", ""), "meter_interval_s": ("各计量器具的采集周期", "s"),
        "valid_from": ("该登记记录生效时间 (UTC)", ""),
    }),
    "enterprise_records": ("监测名录的全部登记记录 (每条记录自 valid_from 起生效, 至同一企业下一条记录为止)", {}),
    "readings": ("计量数据: 每个计量器具每个采集周期的消费量 (已由累计值换算为区间量)", {
        "uscc": ("统一社会信用代码", ""), "meter_id": ("计量器具编号", ""),
        "interval_end": ("采集周期结束时间 (UTC)", ""), "interval_start": ("采集周期开始时间 (UTC)", ""),
        "period": ("所属月份 (北京时间)", ""), "physical_milli": ("实物消费量", MILLI),
        "coal_mgce": ("折标准煤量", MGCE), "quality": ("数据质量标记", ""),
    }),
    "anomalies": ("异常与预警事件 (计量器具、企业、地区三级检测器)", {
        "type": ("异常类型", ""), "severity": ("严重程度 INFO / WARNING / CRITICAL (预警: 绿 / 橙 / 红)", ""),
        "level": ("对象层级", ""), "entity_code": ("对象代码", ""),
        "span_start": ("异常起始时间 (UTC)", ""), "span_end": ("异常结束时间 (UTC)", ""),
        "observed": ("观测值 (预警: 预测值 tce)", ""), "expected": ("期望值 (预警: 目标值 tce)", ""),
        "detail": ("说明", ""),
    }),
    "monthly_reports": ("省级月报: 月末关账后各省上报国家的月度报告 (最大版本为准)", {
        "total_coal_mgce": ("全省能耗总量", MGCE), "change_mom_bp": ("环比变化", "bp (0.01 %)"),
        "change_yoy_bp": ("同比变化", "bp (0.01 %)"), "received": ("已收到的采集周期数", "条"),
        "expected": ("应收的采集周期数", "条"), "completeness_bp": ("数据完整率", "bp (0.01 %)"),
        "completeness_threshold_bp": ("完整率要求 (国家规范 90 %)", "bp"),
        "consistent": ("各级汇总一致 1 / 不一致 0", ""),
        "closed_at": ("关账时间 (UTC)", ""),
        "month_to_date": ("月内进度 1 (未上报, 截至 expected_until) / 已上报 0", ""),
        "expected_until": ("月内进度的应收截止时间 (UTC)", ""),
        "submission_rule": ("上报依据: all_reported 全部企业已报过宽限期 / deadline 到期上报", ""),
    }),
    "monthly_report_versions": ("省级月报的每个上报版本: 首次上报及每次修订 (含修订原因)", {
        "total_coal_mgce": ("全省能耗总量", MGCE), "previous_total_coal_mgce": ("修订前的能耗总量", MGCE),
        "received": ("已收到的采集周期数", "条"), "expected": ("应收的采集周期数", "条"),
        "completeness_bp": ("数据完整率", "bp (0.01 %)"), "consistent": ("各级汇总一致 1 / 不一致 0", ""),
        "revised": ("修订 1 / 首次上报 0", ""), "revision_reason": ("修订原因", ""),
        "closed_at": ("上报时间 (UTC)", ""),
        "submission_rule": ("上报依据: all_reported 全部企业已报过宽限期 / deadline 到期上报", ""),
    }),
    "monthly_report_totals": ("省级月报的行业 x 能源品种明细", {
        "coal_mgce": ("折标准煤量", MGCE), "physical_milli": ("实物消费量", MILLI), "enterprises": ("企业数", "家"),
    }),
    "monthly_report_enterprises": ("省级月报中每家企业的数据完整率", {
        "received": ("已收到的采集周期数", "条"), "expected": ("应收的采集周期数", "条"),
        "completeness_bp": ("完整率", "bp (0.01 %)"), "coal_mgce": ("折标准煤量", MGCE),
    }),
    "national_feedback": ("国家对省级月报的反馈: 占比、排名、行业排名、完整率不达标企业", {
        "share_bp": ("占全国比重", "bp (0.01 %)"), "province_rank": ("全国排名 (能耗由高到低)", ""),
        "provinces_reported": ("已上报省份数", "个"), "national_coal_mgce": ("全国能耗总量", MGCE),
        "province_coal_mgce": ("本省能耗总量", MGCE), "generated_at": ("反馈生成时间 (UTC)", ""),
        "completeness_threshold_bp": ("完整率要求", "bp"), "province_completeness_bp": ("本省完整率", "bp"),
        "industry_codes": ("行业排名: 行业代码 (与下列数组一一对应, ARRAY JOIN 展开)", ""),
        "industry_coal_mgce": ("行业排名: 本省该行业能耗", MGCE),
        "industry_national_coal_mgce": ("行业排名: 全国该行业能耗", MGCE),
        "industry_share_bp": ("行业排名: 占全国该行业", "bp"), "industry_rank": ("行业排名: 名次", ""),
        "industry_provinces": ("行业排名: 有该行业的省份数", "个"),
        "failing_uscc": ("完整率不达标企业: 统一社会信用代码", ""), "failing_received": ("不达标企业: 已收", "条"),
        "failing_expected": ("不达标企业: 应收", "条"), "failing_completeness_bp": ("不达标企业: 完整率", "bp"),
        "final": ("终版 1 (全部应报省份已上报) / 暂定 0", ""),
        "provinces_expected": ("本月应上报的省份数", "个"),
    }),
    "production": ("产品产量 (用于单位产品能耗)", {
        "product_code": ("产品代码", ""), "quantity_milli": ("产量", MILLI), "unit": ("产量单位", ""),
    }),
    "targets": ("能耗目标与定额: 省的能耗总量目标、企业的用能定额 (month = 0 为全年)", {
        "scope": ("PROVINCE 省 / ENTERPRISE 企业", ""), "entity_code": ("行政区划代码或统一社会信用代码", ""),
        "coal_mgce": ("能耗总量上限", MGCE), "intensity_basis": ("强度目标基准 GDP / PRODUCT, 空为无", ""),
        "intensity_mgce_per_unit": ("强度上限 (每 denominator_unit)", MGCE), "reduction_bp": ("强度下降要求", "bp"),
        "document": ("下达目标的文件", ""), "issued_at": ("下达或修订时间 (UTC)", ""),
    }),
    "data_dictionary": ("数据字典: 各表及字段的说明 (column_name 为空即表本身)", {}),
    "regions": ("行政区划代码 (GB/T 2260)", {"level": ("province / prefecture / county", "")}),
    "industries": ("监测行业代码 (GB/T 4754-2017)", {"division": ("所属大类", "")}),
    "energy_types": ("能源品种与折标准煤系数 (GB/T 2589-2020)", {
        "kgce_per_unit": ("折标系数 (kgce 每 canonical_unit)", "")}),
    "units": ("计量单位; 报表显示单位及换算 (显示量 = physical_milli / milli_per_display)", {}),
    "quota_standards": ("单位产品能耗限额标准 (限定值)", {"limit_kgce_per_unit": ("限定值", "kgce 每 unit")}),
    "dead_letters": ("被拒收的消息: 原因代码、说明和原始内容 (仅全国库)", {
        "reason": ("拒收原因代码", ""), "detail": ("拒收说明", ""), "source_topic": ("来源 Kafka 主题", ""),
        "source_partition": ("来源分区", ""), "source_offset": ("来源偏移量", ""), "message_key": ("消息键", ""),
        "payload": ("原始消息内容 (最多 512 KiB)", ""), "rejected_at": ("拒收时间 (UTC)", ""),
    }),
}


# The history holds the same columns as the newest records.
DICTIONARY["enterprise_records"][1].update(DICTIONARY["enterprises"][1])


def _databases(national: str) -> list[str]:
    return [national, *(province_database(national, p) for p in province_codes())]


def reference_rows() -> dict[str, list[tuple]]:
    """Rows of each reference table (without version), in column order, from the kernel's code lists."""
    return {
        "data_dictionary": dictionary_rows(),
        "regions": [(r.code, r.name, r.level, province_of(r.code)) for r in all_regions()],
        "industries": [(i.code, i.name_zh, i.name_en, i.division) for i in INDUSTRIES.values()],
        "energy_types": [(e.code, e.name_zh, e.name_en, e.canonical_unit, str(e.kgce_per_unit), e.source)
                         for e in ENERGY_TYPES.values()],
        "units": [(u.code, UNIT_NAMES_ZH.get(u.code, u.code), u.dimension, str(u.base_factor), *display_unit(u.code))
                  for u in UNITS.values()],
        "quota_standards": [
            (s.product_code, s.product_zh, s.product_en, s.unit, str(Decimal(s.limit_mgce) / 10**6), s.limit_mgce,
             s.number, s.title_zh, s.industry_code, s.route, s.confidence) for s in STANDARDS.values()],
    }


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def refresh(client: Client, national: str) -> dict[str, int]:
    """Bring the reference tables and column comments of every database up to date; returns how many rows
    and comments were written (0 on a second run)."""
    written = {"rows": 0, "comments": 0}
    rows = reference_rows()
    version = int(time.time() * 1000)
    for database in _databases(national):
        for table, wanted in rows.items():
            have = {tuple(r[:-1]) for r in client.execute(f"SELECT * FROM {database}.{table} FINAL")}
            if have != set(wanted):
                client.execute(f"INSERT INTO {database}.{table} VALUES", [(*r, version) for r in wanted])
                client.execute(f"OPTIMIZE TABLE {database}.{table} FINAL")
                written["rows"] += len(wanted)
    existing = client.execute(
        "SELECT database, table, name, comment FROM system.columns WHERE database IN %(dbs)s",
        {"dbs": tuple(_databases(national))})
    changes: dict[tuple[str, str], list[str]] = {}
    for database, table, column, comment in existing:
        entry = DICTIONARY.get(table)
        described = (entry[1].get(column) if entry else None) or (COMMON.get(column) if entry else None)
        text = _comment(described) if described else _KEY.get(column)
        if text and text != comment:
            changes.setdefault((database, table), []).append(f"COMMENT COLUMN {column} {_quote(text)}")
    for (database, table), clauses in sorted(changes.items()):
        client.execute(f"ALTER TABLE {database}.{table} {', '.join(clauses)}")
        written["comments"] += len(clauses)
    return written


def _comment(described: tuple[str, str]) -> str:
    text, unit = described
    return f"{text} [{unit}]" if unit else text


REFERENCE_TABLES = frozenset({"data_dictionary", "regions", "industries", "energy_types", "units",
                              "quota_standards"})


def dictionary_rows() -> list[tuple]:
    """(table_name, column_name, description, unit): one row per table, one per described column."""
    out: list[tuple] = []
    for table, (about, columns) in sorted(DICTIONARY.items()):
        out.append((table, "", about, ""))
        keys = {} if table in REFERENCE_TABLES else {c: (t, "") for c, t in _KEY.items()}
        for column, (text, unit) in sorted({**keys, **columns}.items()):
            out.append((table, column, text, unit))
    return out
