"""The papers' words: English message ids, Chinese beside them.

The templates call ``_()`` gettext-style, so these ids can be extracted with Babel
(``pybabel extract`` with the Jinja2 extractor) and merged into the project's
catalogs; until then this dict is the zh-CN catalog of the papers.
"""

from __future__ import annotations

from collections.abc import Callable

ZH: dict[str, str] = {
    # titles and header
    "Safety Inspection Record": "安全生产检查记录",
    "Hazard Rectification Notice": "隐患整改通知书",
    "Rectification Review Opinion": "整改复查意见书",
    "(inspecting authority)": "（检查机关名称）",
    "No.": "编号",
    "Item No.": "序号",
    "Seal of the issuing authority": "（检查机关印章）",
    "Evidence chart": "监测曲线",
    # fields
    "Inspected enterprise": "被检查单位",
    "Place inspected": "检查场所",
    "Inspection date": "检查时间",
    "Kind": "检查类别",
    "Team leader": "检查组组长",
    "Experts": "检查专家",
    "Expert": "检查专家",
    "1. Instruments used": "一、检查使用的仪器",
    "Instrument": "仪器",
    "Model": "型号",
    "Serial No.": "出厂编号",
    "Calibration valid until": "检定有效期至",
    "State": "状态",
    "PAST DUE": "已过检定有效期",
    "valid": "有效",
    "none recorded": "未登记",
    "An instrument marked PAST DUE was used after its calibration ran out: its readings "
    "are for reference only and are not on their own a basis for a finding; confirm them "
    "with a calibrated instrument.": "标注“已过检定有效期”的仪器在检定有效期后使用，"
    "其读数仅供参考，不得单独作为认定隐患的依据，须以检定合格的仪器复测确认。",
    "2. Hazards found": "二、存在问题及隐患",
    "No hazard was found on this inspection.": "本次检查未发现隐患。",
    "3. Summary": "三、隐患汇总",
    "In all %(n)s hazards: %(major)s major, %(general)s general, %(pending)s awaiting "
    "review.": "共 %(n)s 项隐患：重大隐患 %(major)s 项，一般隐患 %(general)s 项，"
    "待确认 %(pending)s 项。",
    "Hazard No.": "隐患编号",
    "finding %(n)s": "第 %(n)s 项",
    "Grade": "隐患等级",
    "Location": "隐患部位",
    "Hazard found": "存在问题/隐患",
    "Basis (standard, clause)": "依据（标准条款）",
    "%(standard)s clause %(clause)s": "%(standard)s 第 %(clause)s 条",
    "Rectification required": "整改要求",
    "Deadline": "整改期限",
    "to be set": "待定",
    "OVERDUE": "已逾期",
    "Status": "状态",
    "Evidence": "监测证据",
    "Evidence window %(start)s – %(end)s: %(n)s readings (%(flagged)s with a quality "
    "flag).": "证据时段 %(start)s 至 %(end)s：共 %(n)s 个读数（其中 %(flagged)s 个带质量标记）。",
    # signatures
    "(signature):": "（签字）：",
    "Date:": "日期：",
    "year": "年",
    "month": "月",
    "day": "日",
    "Person in charge of the enterprise": "被检查单位负责人",
    "Inspector": "检查人员",
    "Received by the enterprise": "被检查单位签收人",
    "Reviewing expert": "复查专家",
    "(seal)": "（盖章）",
    "In two copies: one for the enterprise, one kept by the department.": "本文书一式两份，"
    "一份交被检查单位，一份存档。",
    # audit
    "Audit chain of the hazard register": "隐患登记簿审计链",
    "entry %(seq)s, head hash:": "第 %(seq)s 条，链头哈希：",
    "To check this paper later, run:": "核验方法：运行",
    "— it must report the history intact, and entry %(seq)s must still carry the hash "
    "above.": "，应报告审计记录完整，且第 %(seq)s 条记录的哈希与上述一致。",
    "Made by hazmon at %(at)s (%(tz)s).": "hazmon 生成于 %(at)s（%(tz)s）。",
    # notice
    ":": "：",
    "On %(date)s the inspection found the following hazards in your enterprise. Under the "
    "Work Safety Law you are ordered to rectify them by the deadlines below and to report "
    "in writing how each was rectified; a hazard not rectified in time will be dealt with "
    "according to law.": "%(date)s 经检查，发现你单位存在下列事故隐患。依据《中华人民共和国"
    "安全生产法》，责令你单位在下列期限内整改完毕，并将整改情况书面报告；逾期未整改的，"
    "依法处理。",
    "For a major hazard": "对重大事故隐患",
    ", your enterprise shall draw up a rectification plan with the five in place — "
    "responsibility, measures, funds, deadline and contingency plan — submit it to the "
    "department, and rectify under it; the hazard is closed only after review by a named "
    "expert.": "，你单位应制定治理方案，做到责任、措施、资金、时限和预案“五落实”，"
    "报送监管部门并按方案整改；经专家复查合格后方可销号。",
    "Responsible unit and person, where already named:": "整改责任单位及责任人：",
    # review
    "Following the Hazard Rectification Notice %(notice)s, the rectification of the hazard "
    "below was reviewed. The opinion is as follows.": "根据《隐患整改通知书》（%(notice)s），"
    "对你单位下列隐患的整改情况进行了复查，意见如下。",
    "1. The hazard": "一、隐患情况",
    "2. The five in place of the rectification plan": "二、治理方案“五落实”情况",
    "Item": "项目",
    "As recorded": "落实内容",
    "In place": "是否落实",
    "yes": "是",
    "no": "否",
    "3. Rectification done": "三、整改情况",
    "2. Rectification done": "二、整改情况",
    "4. Review opinion": "四、复查意见",
    "3. Review opinion": "三、复查意见",
    "Rectified as required; the hazard is closed (verified and struck off).": "经复查，"
    "该隐患已按要求整改完毕，同意销号。",
    "Not yet verified: the hazard stays open until a named expert reviews it.": "尚未复查"
    "确认：经具名专家复查合格前，该隐患不予销号。",
    "Closed at %(at)s.": "销号时间：%(at)s。",
    # workflow terms
    "general": "一般隐患",
    "major": "重大隐患",
    "pending_review": "待确认",
    "confirmed": "已确认",
    "dismissed": "不予认定",
    "rectifying": "整改中",
    "rectified": "已整改",
    "verified": "复查销号",
    "supervision_inspection": "监督检查",
    "self_inspection": "企业自查",
    "responsibility": "责任",
    "measures": "措施",
    "funds": "资金",
    "deadline": "时限",
    "contingency": "预案",
    "awaiting review": "待确认",
}

#: English words for the workflow's stored values (the ids themselves are not prose).
EN: dict[str, str] = {
    "general": "general",
    "major": "major",
    "pending_review": "pending review",
    "supervision_inspection": "supervision inspection",
    "self_inspection": "self-inspection",
    "responsibility": "responsibility",
    "contingency": "contingency plan",
}

LANGUAGES = ("zh", "en")


def gettext(lang: str) -> Callable[[str], str]:
    """The ``_()`` of a language: Chinese from :data:`ZH`, English from the ids."""
    table = ZH if lang == "zh" else EN

    def translate(message: str) -> str:
        return table.get(message, message)

    return translate
