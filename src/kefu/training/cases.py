"""The training cases every kefu ships with (installed by a data migration).

Each is a ``CaseScript`` as data (``kefu.training.engine.script_from_dict``): the seven
difficult customers of the handbooks' role-play training, one module of week one's
learning path each at least (presale, orders and logistics, returns, complaints).
"""

from __future__ import annotations

from typing import Any

BUILTIN_CASES: dict[str, dict[str, Any]] = {
    "late_order": {
        "title": "订单延迟三天未到",
        "category": "orders",
        "persona": {"name": "王女士", "vip": "否", "patience": "normal", "traits": "上班族，着急给孩子用"},
        "facts": {
            "order_no": "YJ20261120018",
            "product": "悦家 儿童保温水壶 400ml",
            "amount": "89元",
            "carrier": "中通快递",
            "tracking_no": "ZT7731842260",
            "problem": "承诺 48 小时送达，已过去 5 天，物流停在杭州转运中心 3 天没更新",
        },
        "goal": "知道包裹什么时候到；如果丢了就补发",
        "opening": "我的订单 {order_no} 说好两天到，现在都五天了还没到！物流三天没动了，到底怎么回事？",
        "start_mood": 6.0,
        "needs": ["solution", "time"],
        "topic_words": ["物流", "快递", "包裹", "订单", "送达", "到货", "中通", "转运", "补发", "催"],
        "solution_words": ["催促", "加急", "核实", "联系快递", "联系中通", "工单"],
        "replies": {
            "anxious": ["那今天能给我个准信吗？孩子等着用呢。"],
            "dissatisfied": ["三天都没动了，你让我怎么放心？", "你们就不能直接给我补发一个吗？"],
            "need_time": ["那你们什么时候能给我结果？", "催了之后大概什么时候能到？"],
            "resolved": ["好的，那我等你们消息，谢谢。", "行，如果明天还到不了就按你说的补发，谢谢。"],
        },
        "model_answers": [
            "您好，非常理解您的心情，让您久等了，真的很抱歉。您的订单 {order_no} 物流确实在杭州转运中心停了 3 天，"
            "我已为您登记加急并联系中通核实，今天18:00前给您回复结果；如果明天仍没有更新，我们直接为您免费补发一件。",
            "理解您的着急，我会一直跟进这单，今天18:00前一定先联系您告知核实结果，补发也不需要您再操作。请问还有其他可以帮您的吗？",
        ],
        "escalation": {"supervisor_after": 2, "threat_after": 3},
        "max_turns": 6,
    },
    "leaking_cup": {
        "title": "保温杯漏水",
        "category": "returns",
        "persona": {"name": "张女士", "vip": "VIP2", "patience": "normal", "traits": "老客户，杯子是送人的"},
        "facts": {
            "order_no": "YJ20261118001",
            "product": "悦家 316 不锈钢保温杯 500ml",
            "amount": "129元",
            "problem": "收到第二天杯盖处漏水，把包里的文件弄湿了",
        },
        "goal": "换一个不漏的新杯子，不想自己出运费",
        "opening": "新买的保温杯第二天就漏水，包里的文件全湿了！{order_no}，你们这什么质量？",
        "start_mood": 7.0,
        "needs": ["solution", "time"],
        "topic_words": ["保温杯", "杯", "漏水", "密封圈", "杯盖", "质量", "换", "退"],
        "solution_words": ["换货", "换一个", "上门取件", "运费由我们承担", "免费换"],
        "replies": {
            "dissatisfied": ["我用的时候都拧紧了，不是我的问题。", "这杯子还是送人的，现在怎么送？"],
            "angry": ["文件都湿了你们也不管吗？！", "买个杯子还要我自己折腾，太过分了！"],
            "need_time": ["那新杯子什么时候能寄出？", "取件要等多久？"],
            "blamed": ["凭什么说是我没拧紧？新杯子就漏水还怪我？"],
            "resolved": ["好吧，那就换新的，希望这次别再漏了，谢谢。"],
        },
        "model_answers": [
            "您好张女士，非常抱歉，新杯子就漏水还弄湿了您的文件，换做是我也会很生气。这属于质量问题，"
            "我们为您免费换新，今天安排顺丰上门取件，运费由我们承担，新杯子在取件当天发出，2天内送到。",
            "给您添麻烦了，换新的物流单号我会在今天18:00前发给您，之后我会跟进直到您收到为止。请问还有其他可以帮您的吗？",
        ],
        "escalation": {"supervisor_after": 2, "threat_after": 3},
        "max_turns": 6,
    },
    "rude_service": {
        "title": "投诉客服态度差",
        "category": "complaints",
        "persona": {"name": "陈女士", "vip": "VIP1", "patience": "low", "traits": "标签：易投诉"},
        "facts": {
            "order_no": "YJ20261117003",
            "product": "悦家 乳胶枕 2 只装",
            "amount": "258元",
            "problem": "昨天咨询退货，上一位客服回复“自己看页面”后就不理人了",
        },
        "goal": "得到正式道歉，退货问题当场解决",
        "opening": "昨天你们的客服态度太差了！问个退货就让我“自己看页面”，然后就不理人了！我要投诉她！",
        "start_mood": 8.0,
        "needs": ["apology", "solution", "follow_up"],
        "topic_words": ["态度", "客服", "投诉", "退货", "乳胶枕", "退款", "同事"],
        "solution_words": ["为您办理退货", "上门取件", "登记投诉", "反馈给主管", "处理结果"],
        "replies": {
            "dissatisfied": ["道歉有什么用，我的退货到现在还没办。", "那个客服你们怎么处理？"],
            "angry": ["你们客服都是这种态度吗？！", "我不想听这些套话！"],
            "need_follow_up": ["那个客服你们会处理吗？处理完告诉我结果。"],
            "resolved": ["好，你这个态度还可以，退货就按你说的办，谢谢。"],
        },
        "model_answers": [
            "您好陈女士，非常抱歉！昨天同事的回复让您受委屈了，这是我们的问题，真的对不起。我已登记您的投诉并反馈给主管，"
            "现在马上为您办理乳胶枕退货：今天安排上门取件，运费我们承担，取件后24小时内退款258元原路退回。",
            "理解您的感受，投诉的处理结果我会在2个工作日内电话回复您，退款进度我也会一直跟进。请问还有其他可以帮您的吗？",
        ],
        "escalation": {"supervisor_after": 2, "threat_after": 3},
        "max_turns": 6,
    },
    "compensation_demand": {
        "title": "要求超出政策的赔偿",
        "category": "complaints",
        "persona": {"name": "刘先生", "vip": "否", "patience": "normal", "traits": "要求赔偿 500 元"},
        "facts": {
            "order_no": "YJ20261119002",
            "product": "悦家 空气炸锅 5L",
            "amount": "399元",
            "problem": "晚到两天，外包装有压痕，机器能正常使用",
        },
        "goal": "拿到尽可能多的补偿；政策内最多 30 元优惠券或 20 元红包",
        "opening": "空气炸锅晚了两天才到，箱子还压坏了。你们必须赔我500块，不然我就退货再给差评！",
        "start_mood": 7.0,
        "needs": ["apology", "solution"],
        "topic_words": ["赔偿", "补偿", "空气炸锅", "包装", "晚到", "延迟", "优惠券", "红包", "退货"],
        "solution_words": ["优惠券", "红包", "补偿", "检查一下机器", "正常使用"],
        "replies": {
            "dissatisfied": ["才这么点？我等了两天，箱子还是烂的。", "你们的补偿就这点诚意？"],
            "angry": ["500块都不肯赔，你们店也太抠了！", "我说了，不赔就差评！"],
            "need_solution": ["那你们到底打算怎么补偿我？"],
            "resolved": ["行吧，机器没坏就算了，补偿我收下了。"],
        },
        "model_answers": [
            "您好刘先生，非常抱歉，晚到两天还让您收到压坏的箱子，确实让人生气。麻烦您先检查一下机器，如能正常使用，"
            "我们为您申请20元红包作为补偿，今天18:00前到账；如机器有任何损坏，我们为您免费换新。",
            "理解您的心情，20元红包是我能为您申请的补偿，今天18:00前到账，到账后我会跟进确认，请问还有其他可以帮您的吗？",
        ],
        "escalation": {"supervisor_after": 2, "threat_after": 3},
        "max_turns": 6,
    },
    "repeat_complaint": {
        "title": "重复投诉（第三次来问）",
        "category": "complaints",
        "persona": {
            "name": "赵先生",
            "vip": "否",
            "patience": "low",
            "traits": "已经来问过两次，每次都说“尽快处理”",
        },
        "facts": {
            "order_no": "YJ20261116004",
            "product": "悦家 电热水壶 1.7L",
            "amount": "89元",
            "problem": "退款申请 10 天未到账，前两次客服都说“尽快处理”",
        },
        "goal": "退款今天到账，有人负责到底",
        "opening": "这是我第三次来问了！退款十天了还没到，每次都说尽快处理，你们到底有没有人管？",
        "start_mood": 8.5,
        "needs": ["apology", "solution", "time", "follow_up"],
        "topic_words": ["退款", "到账", "十天", "第三次", "处理", "电热水壶"],
        "solution_words": ["加急", "财务", "退款", "专人", "负责到底"],
        "replies": {
            "dissatisfied": ["上两次也是这么说的。", "你说的时间，我记下了。"],
            "angry": ["又是尽快？我听了三遍了！", "每次都这样，你们就是在拖！"],
            "need_follow_up": ["这次谁负责？到时候没到账我找谁？"],
            "need_time": ["我就问一句：哪天到账？"],
            "resolved": ["好，今天我就等你的消息，这次别再让我失望了。"],
        },
        "model_answers": [
            "您好赵先生，非常理解您的心情，让您来回问了三次，真的很抱歉，这是我们的失职。我查到您的退款 89 元卡在财务审核，"
            "已为您加急处理，今天18:00前原路退回；这件事由我负责到底，到账后我会主动联系您确认。",
            "理解您的心情，这次由我负责到底：今天18:00前我会再联系您一次告知退款进度。请问还有其他可以帮您的吗？",
        ],
        "escalation": {"supervisor_after": 1, "threat_after": 3},
        "max_turns": 5,
    },
    "traditional_presale": {
        "title": "繁体字顾客咨询（售前）",
        "category": "presale",
        "persona": {"name": "黃小姐", "vip": "否", "patience": "high", "traits": "住在香港，写繁体字"},
        "facts": {
            "product": "悅家 316 不鏽鋼燜燒杯 600ml",
            "amount": "169元",
            "problem": "想知道能否装热汤、保温多久、寄到香港要几天",
        },
        "goal": "知道燜燒杯能不能裝熱湯、保溫多久、幾天寄到香港",
        "opening": "你好，請問這款燜燒杯可以裝熱湯嗎？能保溫多久？寄到香港大概要幾天？",
        "start_mood": 3.0,
        "needs": ["solution", "time"],
        "topic_words": ["焖烧杯", "热汤", "保温", "香港", "寄", "小时", "天"],
        "solution_words": ["可以装", "可以放", "能装", "保温", "小时"],
        "replies": {
            "anxious": ["那到底能不能裝熱湯呢？我想帶去公司。"],
            "need_time": ["那寄到香港要幾天呢？"],
            "ignored": ["我問的是能不能裝熱湯，還有寄到香港要幾天喔。"],
            "resolved": ["明白了，謝謝你，我現在就下單。"],
        },
        "model_answers": [
            "您好黃小姐，這款燜燒杯可以裝熱湯，6小時保溫在60°C以上；寄到香港走順豐，下單後3至5天送達。"
            "您下單後我會跟進物流並告知您單號，請問還有其他可以幫您的嗎？",
        ],
        "escalation": {"supervisor_after": 2, "threat_after": 3},
        "max_turns": 5,
        "traditional": True,
    },
    "vip_12315": {
        "title": "VIP 顾客威胁投诉 12315",
        "category": "complaints",
        "persona": {
            "name": "孙先生",
            "vip": "VIP5",
            "patience": "low",
            "traits": "年消费 3 万元，已截图准备投诉",
        },
        "facts": {
            "order_no": "YJ20261115009",
            "product": "悦家 扫地机器人 X7",
            "amount": "2999元",
            "problem": "用了一周不充电，售后已申请 5 天无人联系",
        },
        "goal": "今天有人上门或换新，并且有人负责",
        "opening": "我是你们的VIP，2999的扫地机器人用一周就不充电了，售后申请五天没人理！今天不给我解决我就打12315投诉！",
        "start_mood": 9.5,
        "needs": ["empathy", "apology", "solution", "time", "follow_up"],
        "topic_words": ["扫地机器人", "充电", "售后", "12315", "换新", "维修", "上门"],
        "solution_words": ["换新", "上门", "检测", "专属", "优先"],
        "replies": {
            "dissatisfied": ["五天没人理，你们对VIP就是这样的？", "你说的我先听着，具体怎么办？"],
            "angry": ["我不要听解释，我已经截图了！", "你们就是这样对待老客户的？！"],
            "need_time": ["今天能上门吗？几点？", "换新的机器什么时候送到？"],
            "need_follow_up": ["那这事谁负责？我要一个能联系到的人。"],
            "supervisor": ["叫你们主管来，我不想跟普通客服说。"],
            "threat": ["好，我现在就打12315，还要在微博上曝光你们！"],
            "resolved": ["好，今天我等你们的人，这次别让我失望。"],
        },
        "model_answers": [
            "孙先生您好，非常理解您的心情，五天没人联系确实是我们的失职，真的很抱歉。您是我们的VIP，"
            "我已为您开通优先售后：今天为您直接换新，新机器顺丰明天中午12点前送到，旧机器到时上门取件。",
            "理解您的心情，这件事由我专人负责，今天18:00前我会给您回电确认发货单号，之后全程跟进直到您用上新机器。请问还有其他可以帮您的吗？",
        ],
        "escalation": {"supervisor_after": 1, "threat_after": 2, "resolve_below": 3.5},
        "max_turns": 5,
    },
}

# Week one of a new agent (新人第一周): the modules in order and the cases in each.
LEARNING_PATH = ("presale", "orders", "returns", "complaints")
