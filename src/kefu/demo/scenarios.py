"""Everyday customer-service cases for the demo, as data (long because it is data: one
entry per conversation the demo plays).

Each scenario is one conversation played through the real services. Keys:

* ``channel`` — a channel key from ``shop.CHANNELS``; ``hours_ago`` — when it began;
* ``vip`` — pick a VIP customer; ``order`` — an order made for the story
  (``items`` as ``(sku, qty)``, ``shipping``, ``payment``, ``days_ago``, ``stuck``:
  no logistics update for three days);
* ``agent`` — the username who answers (someone of the routed team if they cannot);
* ``same_customer_as`` — the key of an earlier scenario whose customer writes again;
* ``steps`` — ``("c", text)`` customer, ``("c_img", text)`` customer with a photo,
  ``("a", text)`` agent, ``("note", text)``, ``("status", s)``, ``("snooze", hours)``,
  ``("transfer_team", team, note)``, ``("transfer_user", username, note)``,
  ``("ticket", {...})``, ``("call", {...})``, ``("wait", hours)`` (time passes before
  the next message), and for complaints ``("complaint", {...})`` (intake, and the
  transfer when a ``department`` is named), ``("resolve", text)``, ``("confirm", note)``;
* ``after`` — complaint steps taken now, once the conversation lies in the past:
  ``("progress", text)``, ``("resolve", text)``, ``("follow_up", note)``,
  ``("compensation", kind, amount, reason)``,
  ``("promise", description, "open" | "kept" | "broken", hours)`` — kept and broken
  ones fell due ``hours`` after the complaint was opened; an open one is due later today.

Texts may use ``{order_no} {tracking_no} {carrier} {item} {amount} {city} {agent}``.
"""

from __future__ import annotations

from typing import Any

Scenario = dict[str, Any]

SCENARIOS: list[Scenario] = [
    # --- logistics ----------------------------------------------------------------------
    {
        "key": "parcel_stuck",
        "channel": "web",
        "hours_ago": 30,
        "order": {"items": [("SJT-18", 1)], "shipping": "in_transit", "days_ago": 5, "stuck": True},
        "agent": "majun",
        "steps": [
            ("c", "你好，我买的四件套物流没更新已经三天了，订单号 {order_no}"),
            ("a", "您好，我是客服{agent}，非常理解您着急的心情，我马上为您查询订单 {order_no} 的物流。"),
            (
                "a",
                "查到包裹 3 天前到达{carrier}中转站后没有新的扫描记录，我已联系仓储物流部核实，今天 18:00 前给您回复。",
            ),
            ("c", "好的，麻烦快点，周末要用的"),
            (
                "ticket",
                {
                    "title": "物流停滞三天未更新",
                    "department": "仓储物流部",
                    "fields": {"tracking_no": "{tracking_no}"},
                },
            ),
            ("note", "已提交仓储物流部核查，运单 {tracking_no}，客户周末要用，18:00 前回电"),
            ("status", "pending"),
        ],
    },
    {
        "key": "parcel_where",
        "channel": "im",
        "hours_ago": 3,
        "order": {"items": [("KQZ-45", 1)], "shipping": "delivering", "days_ago": 3},
        "agent": "huxiaoting",
        "steps": [
            ("c", "快递到哪了？今天能送到吗"),
            ("a", "您好，请问是订单 {order_no} 吗？我帮您看一下。"),
            ("c", "对的，空气炸锅"),
            ("a", "包裹今天早上已到{city}派送站，正在派送中，预计今天 18:00 前送达，请保持电话畅通哦。"),
            ("c", "好的谢谢"),
            ("status", "resolved"),
        ],
    },
    {
        "key": "not_shipped_email",
        "channel": "email",
        "subject": "订单迟迟未发货",
        "hours_ago": 20,
        "order": {"items": [("CG-32", 1)], "shipping": "pending", "days_ago": 4},
        "agent": "gaoyuan",
        "steps": [
            (
                "c",
                "你好：\n我 4 天前下的订单 {order_no} 到现在还显示待发货，页面上写的是 48 小时内发货，请问什么时候能发？\n谢谢",
            ),
            (
                "a",
                "您好！\n非常抱歉让您久等了。炒锅近期因活动备货不足，仓库已安排今天优先发出，发货后会短信通知运单号。\n如有其他问题请随时回复本邮件。\n悦家生活客服 {agent}",
            ),
            ("status", "resolved"),
        ],
    },
    {
        "key": "phone_urge_delivery",
        "channel": "phone",
        "hours_ago": 26,
        "order": {"items": [("JSQ-02", 1)], "shipping": "in_transit", "days_ago": 3},
        "agent": "majun",
        "steps": [
            (
                "call",
                {
                    "direction": "inbound",
                    "seconds": 245,
                    "outcome": "resolved",
                    "summary": "客户来电催促加湿器配送，已告知包裹在{city}转运中心，预计明天送达，客户认可",
                },
            ),
            ("status", "resolved"),
        ],
    },
    # --- returns, refunds, quality -------------------------------------------------------
    {
        "key": "return_size",
        "channel": "app",
        "hours_ago": 50,
        "order": {"items": [("XZ-M42", 1)], "shipping": "delivered", "days_ago": 4},
        "agent": "huxiaoting",
        "steps": [
            ("c", "鞋子尺码偏小，42 码穿着挤脚，想换货换 43 码"),
            ("a", "您好，很抱歉鞋子不太合脚。订单 {order_no} 在 7 天无理由退换期内，可以直接申请换货。"),
            ("c", "怎么操作？运费谁出？"),
            (
                "a",
                "在 App「我的订单」里点「申请售后」→「换货」，选 43 码即可。您购买了运费险，寄回运费会自动理赔，不用您承担。",
            ),
            ("c", "好的，已经提交了"),
            ("a", "收到，审核通过后 43 码会在我们收到退回的鞋子后 24 小时内发出。还有其他可以帮您的吗？"),
            ("c", "没有了，谢谢"),
            ("status", "resolved"),
        ],
    },
    {
        "key": "leaking_cup",
        "channel": "im",
        "hours_ago": 8,
        "order": {"items": [("BWB-500", 2)], "shipping": "delivered", "days_ago": 6},
        "agent": "wumin",
        "steps": [
            ("c", "你们的保温杯漏水！装了热水放包里，书全湿了"),
            ("c_img", "照片：杯子倒过来，杯盖和杯身连接的地方一直往外渗水"),
            ("a", "非常抱歉给您带来这么糟糕的体验！从照片看是杯盖密封圈的问题，我这边为您登记质量问题。"),
            ("a", "请问两个杯子都漏水吗？方便的话再拍一张密封圈的照片给我。"),
            ("c", "只有一个漏，另一个还没用"),
            (
                "ticket",
                {
                    "title": "保温杯杯盖漏水（质量问题）",
                    "department": "质检部",
                    "fields": {"evidence": "客户聊天中发送的漏水照片"},
                },
            ),
            (
                "a",
                "已为您提交质检，我们会先为您补发一个新杯子，今天安排发出，漏水的杯子无需寄回。另外补偿您 20 元无门槛券，您看可以吗？",
            ),
            ("c", "行吧，尽快发"),
        ],
    },
    {
        "key": "refund_not_received",
        "channel": "im",
        "hours_ago": 28,
        "order": {"items": [("WJ-01", 1)], "shipping": "returned", "payment": "refunding", "days_ago": 12},
        "agent": "majun",
        "steps": [
            ("c", "退货已经签收五天了，退款怎么还没到账？"),
            (
                "a",
                "您好，我查一下订单 {order_no}：退回的围巾 5 天前已签收入库，退款 {amount} 元还在财务审核中。",
            ),
            ("c", "要等多久啊"),
            (
                "ticket",
                {
                    "title": "退货已入库，退款未到账",
                    "department": "财务部",
                    "fields": {"refund_amount": "{amount}"},
                },
            ),
            ("a", "我已提交财务部加急处理，一般 1–2 个工作日原路退回，到账后会短信通知您。"),
            ("status", "pending"),
        ],
    },
    {
        "key": "duplicate_charge",
        "channel": "app",
        "hours_ago": 5,
        "order": {"items": [("EJ-ANC", 1)], "shipping": "shipped", "days_ago": 1},
        "agent": "gaoyuan",
        "steps": [
            ("c", "我付款的时候卡了一下，结果被扣了两次钱，要求退款！"),
            ("a", "您好，很抱歉给您添麻烦了。请问是订单 {order_no} 吗？我核实一下支付记录。"),
            ("c", "是的，银行短信显示扣了两笔 499"),
            ("a", "核实到重复支付一笔 {amount} 元，我马上为您提交退款，1–3 个工作日原路退回。"),
            (
                "ticket",
                {
                    "title": "重复扣款退款",
                    "department": "财务部",
                    "fields": {"refund_amount": "{amount}"},
                    "urgent": True,
                    "important": True,
                },
            ),
        ],
    },
    {
        "key": "damaged_humidifier",
        "channel": "im",
        "hours_ago": 14,
        "order": {"items": [("JSQ-02", 1)], "shipping": "delivered", "days_ago": 2},
        "agent": "huxiaoting",
        "steps": [
            ("c", "收到的时候外箱就破损了，加湿器水箱摔裂了"),
            ("a", "非常抱歉！麻烦您拍一下外箱和水箱裂痕的照片，我马上为您处理。"),
            ("c_img", "照片：外箱一角压扁，水箱侧面有一道 5 厘米左右的裂纹"),
            (
                "a",
                "收到照片了。我为您安排换新，新的加湿器今天发出，顺丰配送。破损的那台快递员上门取件时带走即可。",
            ),
            (
                "ticket",
                {
                    "title": "加湿器运输破损换新",
                    "department": "质检部",
                    "fields": {"evidence": "外箱与水箱裂纹照片"},
                },
            ),
            ("status", "pending"),
        ],
    },
    {
        "key": "headphone_noise",
        "channel": "app",
        "hours_ago": 40,
        "order": {"items": [("EJ-ANC", 1)], "shipping": "delivered", "days_ago": 10},
        "agent": "wumin",
        "steps": [
            ("c", "耳机开降噪的时候右耳有滋滋的电流声，是质量问题吗？想退货"),
            ("a", "您好，请先试一下：关机后长按电源键 10 秒恢复出厂设置，再重新配对。"),
            ("c", "试过了，还是有"),
            ("a", "好的，那判断是硬件问题。已超过 7 天无理由，但在 15 天质量问题包换期内，我为您办理换新。"),
            (
                "ticket",
                {
                    "title": "降噪耳机右耳电流声",
                    "department": "质检部",
                    "fields": {"evidence": "客户描述：降噪开启时右耳电流声，已恢复出厂设置无效"},
                },
            ),
            ("status", "pending"),
        ],
    },
    {
        "key": "wrong_color",
        "channel": "web",
        "hours_ago": 70,
        "order": {"items": [("SNH-3", 1)], "shipping": "delivered", "days_ago": 5},
        "agent": "xujiaqi",
        "steps": [
            ("c", "我买的是灰色收纳盒，发来的是粉色的，要换货"),
            (
                "a",
                "非常抱歉发错了颜色！我为您登记换货，灰色今天就发，粉色的那套等快递员上门取回即可，不需要您付运费。",
            ),
            ("c", "好的"),
            ("status", "resolved"),
        ],
    },
    {
        "key": "missing_item",
        "channel": "app",
        "hours_ago": 9,
        "order": {"items": [("JYM-01", 2), ("MJ-3", 1)], "shipping": "delivered", "days_ago": 3},
        "agent": "majun",
        "steps": [
            ("c", "我买了两个枕头，只收到一个，少发了"),
            ("a", "您好，抱歉给您带来不便。麻烦确认下包裹里是否只有一个枕头和一套毛巾？"),
            ("c", "对，只有一个枕头"),
            (
                "ticket",
                {
                    "title": "少发护颈枕一个",
                    "department": "仓储物流部",
                    "fields": {"tracking_no": "{tracking_no}"},
                },
            ),
            ("a", "已提交仓库核对发货称重记录，核实后立即为您补发，今天内给您答复。"),
        ],
    },
    {
        "key": "price_protect",
        "channel": "app",
        "hours_ago": 22,
        "order": {"items": [("KQZ-45", 1)], "shipping": "delivered", "days_ago": 6},
        "agent": "xujiaqi",
        "steps": [
            ("c", "我前几天买的空气炸锅，今天便宜了 50，能保价吗"),
            (
                "a",
                "您好，我们支持下单后 15 天内价格保护，订单 {order_no} 符合条件，差价 50 元会在 24 小时内退回原支付账户。",
            ),
            ("c", "那太好了"),
            ("status", "resolved"),
        ],
    },
    {
        "key": "email_return_address",
        "channel": "email",
        "subject": "退货地址是多少",
        "hours_ago": 4,
        "order": {"items": [("SY-W-M", 1)], "shipping": "delivered", "days_ago": 5},
        "agent": "gaoyuan",
        "steps": [
            ("c", "您好，睡衣穿着有点大，想退货，请问退货寄到哪里？需要附什么单据吗？"),
            (
                "a",
                "您好！请先在订单 {order_no} 中申请退货，审核通过后页面会显示退货地址。寄回时请在包裹里放一张写有订单号的纸条即可。\n悦家生活客服",
            ),
            ("status", "pending"),
        ],
    },
    # --- complaints ---------------------------------------------------------------------
    {
        "key": "rude_service",
        "channel": "social",
        "hours_ago": 6,
        "order": {"items": [("CG-32", 1)], "shipping": "delivered", "days_ago": 8},
        "agent": "zhengxue",
        "steps": [
            (
                "c",
                "你们客服态度太差了！问了三遍都是机器人一样的回复，锅的涂层掉了没人管，再不处理我就去12315投诉，给你们差评！",
            ),
            ("a", "非常抱歉给您带来这么不好的体验，我是投诉处理专员{agent}，您的问题由我全程负责处理。"),
            ("c", "早干嘛去了？我已经等了两天了"),
            (
                "a",
                "让您等了两天是我们的问题，真的很抱歉。炒锅涂层脱落属于质量问题，我现在为您办理全额退款，不需要寄回，另外补偿您 50 元。",
            ),
            ("note", "客户情绪激烈，提到 12315 与差评；已承诺全额退款（走财务部）+ 50 元补偿（本人权限内）"),
            (
                "complaint",
                {
                    "title": "客服态度投诉 + 炒锅涂层脱落",
                    "what_happened": "炒锅使用一周涂层成片脱落；客户两天内三次咨询，均只收到机器人式回复，无人跟进",
                    "customer_request": "全额退款；客服为处理不及时道歉",
                    "evidence": ["客户描述：锅底涂层成片脱落", "两天内三次咨询未获处理的聊天记录"],
                    "contact_preference": "微博私信；回访请打电话，上午方便",
                    "department": "质检部",
                    "fields": {"evidence": "客户描述锅底涂层成片脱落，见会话记录"},
                    "note": "炒锅涂层脱落，请确认是否为批次问题",
                },
            ),
            ("c", "钱什么时候到？"),
            ("a", "退款今天 18:00 前提交，1–3 个工作日到账，我明天上午会再给您回电确认。"),
        ],
        "after": [
            ("compensation", "coupon", "50", "客服多次机器人式回复、两天未处理，致歉补偿"),
            (
                "resolve",
                "1. 炒锅涂层脱落属质量问题，全额退款 {amount} 元已提交财务部，1–3 个工作日原路退回，锅无需寄回；\n"
                "2. 50 元无门槛券已发到您的账户；\n"
                "3. 两天没有及时处理是我们的责任，已对相关客服进行辅导，再次向您道歉。",
            ),
            ("promise", "今天内确认财务已提交退款，并回电告知客户到账时间", "open", 0),
        ],
    },
    {
        "key": "courier_cup",
        "channel": "im",
        "hours_ago": 27,
        "order": {"items": [("BWB-500", 1)], "shipping": "delivered", "days_ago": 2},
        "agent": "liangxin",
        "steps": [
            (
                "c",
                "我要投诉你们的快递员！电话里态度特别差，说我不在家就把箱子从院门外扔进来，保温杯直接摔瘪了",
            ),
            ("c_img", "照片：杯身侧面凹进去一块，外箱一角被压扁"),
            ("a", "非常抱歉给您带来这么糟糕的体验，我是投诉处理专员{agent}，这件事由我全程跟进。"),
            ("c", "快递员还骂人，我要他道歉，杯子给我换新的"),
            (
                "a",
                "您的诉求我记下了：快递员道歉、保温杯换新。我现在向{carrier}站点投诉，新杯子也马上安排补发，"
                "2 小时内把站点的处理结果告诉您。",
            ),
            (
                "complaint",
                {
                    "title": "快递员态度恶劣并抛掷包裹，保温杯摔瘪",
                    "what_happened": "快递员电话中态度恶劣，客户不在家时将包裹从院门外抛入，保温杯杯身摔瘪",
                    "customer_request": "快递员道歉；保温杯换新",
                    "evidence": ["客户发送的杯身凹陷照片", "外箱压扁照片"],
                    "contact_preference": "微信留言",
                    "department": "仓储物流部",
                    "fields": {"tracking_no": "{tracking_no}"},
                    "note": "请联系{carrier}站点核实快递员服务问题并回复",
                },
            ),
            ("c", "行，你们尽快"),
        ],
        "after": [
            ("compensation", "coupon", "20", "快递员抛掷包裹致保温杯摔瘪、态度恶劣，致歉补偿"),
            ("promise", "2 小时内告知客户{carrier}站点对快递员的处理结果", "kept", 2),
            (
                "progress",
                "{carrier}站点负责人已重新核实，您所在小区今后改由其他快递员派送，站点会当面向您致歉；"
                "补发的新保温杯已由顺丰发出，预计明天送达。20 元无门槛券已发到您的账户。",
            ),
        ],
    },
    {
        "key": "courier_cup_again",
        "channel": "phone",
        "hours_ago": 3,
        "same_customer_as": "courier_cup",
        "agent": "liangxin",
        "steps": [
            (
                "call",
                {
                    "direction": "inbound",
                    "seconds": 376,
                    "outcome": "follow_up",
                    "summary": "客户再次投诉：快递员至今没有道歉，今天送件的又是同一位快递员，态度依旧恶劣；要求更换派送员并退还保温杯货款",
                },
            ),
            (
                "complaint",
                {
                    "title": "重复投诉：快递员未道歉且再次态度恶劣",
                    "what_happened": "昨天已投诉快递员抛掷包裹、摔瘪保温杯；快递员至今未道歉，今天派件的仍是同一快递员，态度依旧恶劣",
                    "customer_request": "更换派送员；退还保温杯货款",
                    "evidence": ["来电记录", "首次投诉的照片与记录"],
                    "contact_preference": "电话，工作日 18:00 后",
                },
            ),
            ("note", "重复投诉，已自动转资深同事跟进；退还货款超出本人权限，已提交主管审批"),
        ],
        "after": [
            (
                "compensation",
                "refund",
                "{amount}",
                "重复投诉：快递员两次服务恶劣，退还保温杯货款，补发的杯子客户留用",
            ),
            ("promise", "1 小时内回电告知{carrier}站点对派送员的复核结果", "broken", 1),
        ],
    },
    {
        "key": "fryer_complaint_closed",
        "channel": "app",
        "hours_ago": 100,
        "order": {"items": [("KQZ-45", 1)], "shipping": "delivered", "days_ago": 9},
        "agent": "zhengxue",
        "steps": [
            (
                "c",
                "我要投诉！空气炸锅用了不到一周炸篮涂层就起泡了，上次客服说 24 小时内回电，结果根本没人联系我",
            ),
            ("a", "非常抱歉！我是投诉处理专员{agent}，答应您的回电没有做到是我们的失职，这次由我全程负责。"),
            ("c_img", "照片：炸篮底部涂层鼓起几个小泡，边缘有一处剥落"),
            (
                "complaint",
                {
                    "title": "空气炸锅炸篮涂层起泡 + 承诺回电未兑现",
                    "what_happened": "空气炸锅使用不到一周炸篮涂层起泡剥落；此前客服承诺 24 小时内回电，未兑现",
                    "customer_request": "更换新炸篮；说明为什么没有回电",
                    "evidence": ["炸篮底部涂层起泡照片"],
                    "contact_preference": "App 消息",
                    "department": "质检部",
                    "fields": {"evidence": "炸篮底部涂层起泡照片"},
                    "note": "炸篮涂层起泡，请确认批次",
                },
            ),
            ("a", "已提交质检部加急处理，新炸篮会尽快寄给您，到货后请您看一下是否满意。"),
            ("wait", 24),
            (
                "resolve",
                "1. 经质检部确认为该批次炸篮涂层工艺问题，已为您寄出全新炸篮（京东物流），旧炸篮无需寄回；\n"
                "2. 上次承诺的回电因交接遗漏没有兑现，我们已整改交接流程，向您诚恳道歉。",
            ),
            ("c", "新炸篮收到了，用着没问题，确认"),
            ("confirm", "客户确认新炸篮正常"),
            ("a", "感谢您的理解！过几天我们会再回访一次，祝您用得开心。"),
            ("status", "resolved"),
        ],
        "after": [("follow_up", "回访：客户表示新炸篮使用一切正常，对处理结果满意，同意结案")],
    },
    {
        "key": "weibo_public_complaint",
        "channel": "social",
        "hours_ago": 2,
        "agent": "liangxin",
        "steps": [
            ("c", "@悦家生活旗舰店 买的毛巾洗一次就掉毛，找客服一直排队，差评！"),
            ("a", "您好，看到您的反馈了，非常抱歉！麻烦私信我们订单号，我马上为您处理退换。"),
            ("status", "pending"),
        ],
    },
    {
        "key": "courier_rude_phone",
        "channel": "phone",
        "hours_ago": 31,
        "order": {"items": [("TZC-01", 1)], "shipping": "delivered", "days_ago": 2},
        "agent": "liangxin",
        "steps": [
            (
                "call",
                {
                    "direction": "inbound",
                    "seconds": 412,
                    "outcome": "follow_up",
                    "summary": "客户投诉快递员态度恶劣、未经同意放快递柜，要求道歉；已致歉并反馈承运商，约定明天回电",
                },
            ),
            ("note", "已向{carrier}站点投诉，等待站点回复"),
            (
                "call",
                {
                    "direction": "outbound",
                    "seconds": 133,
                    "outcome": "resolved",
                    "summary": "回电告知快递站点已处理并道歉，客户表示接受",
                },
            ),
            ("status", "resolved"),
        ],
    },
    # --- pre-sales ----------------------------------------------------------------------
    {
        "key": "powerbank_flight",
        "channel": "web",
        "hours_ago": 12,
        "agent": "heyutong",
        "steps": [
            ("c", "你好，这款 20000mAh 的充电宝能带上飞机吗？"),
            (
                "a",
                "您好！可以的。20000mAh 约 74Wh，低于民航 100Wh 的限制，可以随身携带登机，但不能放托运行李里哦。",
            ),
            ("c", "续航怎么样，能给手机充几次？"),
            (
                "a",
                "按常见 4000mAh 手机电池算，大约可以充 3–4 次；支持 22.5W 快充，30 分钟可以充到 60% 左右。",
            ),
            ("c", "好的，那我下单了"),
            ("status", "resolved"),
        ],
    },
    {
        "key": "cotton_question_waiting",
        "channel": "web",
        "hours_ago": 0.05,
        "steps": [("c", "在吗？想问下四件套是纯棉的吗，会不会起球")],
    },
    {
        "key": "pajama_size",
        "channel": "im",
        "hours_ago": 34,
        "agent": "linmeiling",
        "steps": [
            ("c", "睡衣我 165cm、110 斤，穿什么码？"),
            ("a", "您好，这款偏宽松，按您的身高体重建议选 M 码；喜欢更宽松可以选 L。"),
            ("c", "好的，M 码"),
            ("status", "resolved"),
        ],
    },
    {
        "key": "gift_card",
        "channel": "web",
        "hours_ago": 45,
        "agent": "linmeiling",
        "steps": [
            ("c", "要送给妈妈的生日礼物，能帮忙写张贺卡吗？不要放价格单"),
            ("a", "当然可以！下单时在备注里写上贺卡内容即可，我们会手写贺卡，并且不放价格单。"),
            ("c", "太贴心了，谢谢"),
            ("status", "closed"),
        ],
    },
    {
        "key": "delivery_time_question",
        "channel": "app",
        "hours_ago": 16,
        "agent": "heyutong",
        "steps": [
            ("c", "今天下单，上海明天能到吗？"),
            ("a", "您好，16:00 前付款当天从嘉兴仓发出，上海一般次日送达。"),
            ("status", "resolved"),
        ],
    },
    {
        "key": "coupon",
        "channel": "app",
        "hours_ago": 19,
        "agent": "xujiaqi",
        "steps": [
            ("c", "满 300 减 40 的券为什么用不了"),
            (
                "a",
                "您好，这张券需要单笔实付满 300 元，而且不能和直播间专属价同时使用。您的购物车里炒锅是直播价，所以不满足条件。",
            ),
            ("c", "哦，那我把炒锅单独拍"),
            ("a", "是的，其他商品凑满 300 就能用券啦。"),
            ("status", "resolved"),
        ],
    },
    {
        "key": "air_fryer_smell",
        "channel": "web",
        "hours_ago": 60,
        "agent": "heyutong",
        "steps": [
            ("c", "空气炸锅第一次用有股塑料味，正常吗？"),
            ("a", "您好，新机第一次使用有轻微异味是正常的。建议先空烧 200℃ 10 分钟，再用清水把炸篮洗一遍。"),
            ("c", "好的我试试"),
            ("status", "closed"),
        ],
    },
    {
        "key": "vip_bulk_order",
        "channel": "im",
        "hours_ago": 24,
        "vip": True,
        "agent": "zhangli",
        "steps": [
            ("c", "你好，我们公司年会想定制 50 个保温杯，印公司 logo，有企业价吗？"),
            (
                "a",
                "您好！感谢您一直以来的支持。50 个起可以享受企业团购价，并支持激光刻 logo，交期大约 7 个工作日。",
            ),
            ("c", "可以开专票吗？"),
            ("a", "可以开增值税专用发票。我把您转给负责企业采购的刘经理，她会给您出详细报价。"),
            ("transfer_user", "liuxiaoyan", "VIP 客户企业定制保温杯 50 个，需刻 logo、开专票，请出报价"),
        ],
    },
    {
        "key": "vip_discount_waiting",
        "channel": "web",
        "hours_ago": 0.1,
        "vip": True,
        "steps": [
            ("c", "我是你们的老客户了，上次买的不锈钢锅还想再买两个送人，能不能便宜点？"),
            ("c", "有人吗？"),
        ],
    },
    {
        "key": "address_change",
        "channel": "im",
        "hours_ago": 11,
        "order": {"items": [("BXH-6", 1)], "shipping": "pending", "days_ago": 0},
        "agent": "linmeiling",
        "steps": [
            ("c", "刚下的单地址填错了，能改吗？"),
            ("a", "您好，订单 {order_no} 还没发货，可以修改。请把新的收货地址发给我。"),
            ("c", "改成公司地址：{city}市高新区创业大厦 12 楼"),
            ("a", "已经为您修改好了，今天下午发出。"),
            ("status", "resolved"),
        ],
    },
    # --- live stream ----------------------------------------------------------------------
    {
        "key": "live_price",
        "channel": "live",
        "hours_ago": 1,
        "agent": "heyutong",
        "steps": [
            ("c", "主播手里那个保温杯多少钱？"),
            ("a", "宝子们，钛色保温杯直播间专属价 99 元，点 3 号链接就能拍哦～"),
            ("c", "有粉色吗"),
            ("a", "有的，3 号链接里选「樱花粉」就行！"),
            ("status", "resolved"),
        ],
    },
    {
        "key": "live_stock_waiting",
        "channel": "live",
        "hours_ago": 0.02,
        "steps": [("c", "3 号链接还有货吗？拍不了了")],
    },
    {
        "key": "live_shipping",
        "channel": "live",
        "hours_ago": 1.2,
        "agent": "linmeiling",
        "steps": [
            ("c", "直播间拍的什么时候发货"),
            ("a", "直播间订单 48 小时内发货，默认中通，偏远地区除外～"),
            ("status", "resolved"),
        ],
    },
    # --- invoices -------------------------------------------------------------------------
    {
        "key": "invoice_request",
        "channel": "app",
        "hours_ago": 36,
        "order": {"items": [("YS-01", 1)], "shipping": "delivered", "days_ago": 7},
        "agent": "xujiaqi",
        "steps": [
            ("c", "我想开个发票，抬头写个人就行"),
            (
                "a",
                "您好，在订单详情页点「申请开票」，选择「个人」即可，电子发票会在 1 个工作日内发到您的邮箱。",
            ),
            ("c", "找到了，谢谢"),
            ("status", "resolved"),
        ],
    },
    {
        "key": "email_vat_invoice",
        "channel": "email",
        "subject": "申请开具增值税专用发票",
        "hours_ago": 27,
        "order": {"items": [("KQZ-45", 3), ("BWB-500", 10)], "shipping": "delivered", "days_ago": 9},
        "agent": "gaoyuan",
        "steps": [
            (
                "c",
                "您好：\n我司在贵店订单 {order_no} 需开具增值税专用发票，单位名称：杭州某某科技有限公司，税号：91330106MA2XXXXX7Q。\n请问还需要提供什么材料？",
            ),
            (
                "a",
                "您好！\n开具专票还需要：开户行及账号、注册地址及电话。请回复邮件提供，我们会在收到后 3 个工作日内开具并邮寄纸质专票。\n悦家生活客服 {agent}",
            ),
            ("c", "开户行：招商银行杭州分行，账号稍后由财务提供。"),
            ("status", "pending"),
        ],
    },
    # --- technical ------------------------------------------------------------------------
    {
        "key": "app_login",
        "channel": "app",
        "hours_ago": 7,
        "agent": "luohao",
        "steps": [
            ("c", "App 一直登录不上，提示网络错误，wifi 和 4G 都试了"),
            ("a", "您好，请问您的 App 是最新版本吗？在「设置-关于」里可以看到版本号。"),
            ("c", "5.2.0"),
            ("a", "最新版是 5.3.1，旧版本的登录接口已停用。请先到应用商店更新后再试一下。"),
            ("c", "更新了还是不行"),
            ("a", "好的，麻烦您告诉我手机型号和系统版本，我提交给技术同事排查。"),
            ("status", "pending"),
        ],
    },
    {
        "key": "app_crash",
        "channel": "app",
        "hours_ago": 18,
        "agent": "luohao",
        "steps": [
            ("c", "更新后 App 一打开就闪退，iPhone 12，iOS 16"),
            ("a", "您好，抱歉给您带来不便。请先试试删除 App 后重新安装。"),
            ("c", "重装了，还是闪退"),
            ("note", "iOS 16 + 5.3.1 闪退，已有 3 例类似反馈，转周杰跟进"),
            ("transfer_user", "zhoujie", "iOS 16 更新 5.3.1 后启动闪退，重装无效，需要收集崩溃日志"),
        ],
    },
    {
        "key": "scale_bluetooth",
        "channel": "im",
        "hours_ago": 55,
        "order": {"items": [("TZC-01", 1)], "shipping": "delivered", "days_ago": 8},
        "agent": "zhoujie",
        "steps": [
            ("c", "体脂秤蓝牙连不上手机"),
            (
                "a",
                "您好，请确认手机蓝牙和定位权限都已打开，然后赤脚站上秤，等数字闪烁时在 App 里点「添加设备」。",
            ),
            ("c", "定位没开，开了就连上了！"),
            ("a", "太好了！安卓手机搜索蓝牙设备需要定位权限，以后就不用再开了。"),
            ("status", "closed"),
        ],
    },
    {
        "key": "sms_code_waiting",
        "channel": "app",
        "hours_ago": 0.08,
        "steps": [("c", "注册的时候验证码一直收不到，试了五六次了")],
    },
    # --- transfers, waiting, snoozed ------------------------------------------------------
    {
        "key": "presales_then_return",
        "channel": "web",
        "hours_ago": 2.5,
        "order": {"items": [("SY-W-M", 1)], "shipping": "delivered", "days_ago": 3},
        "agent": "linmeiling",
        "steps": [
            ("c", "你好，这款睡衣有 XL 码吗？"),
            ("a", "您好，有的，XL 码现在有货。"),
            ("c", "上次买的 M 码太小了，能退了重新买 XL 吗"),
            ("a", "可以的，我把您转给售后同事办理退货，稍等一下哦。"),
            ("transfer_team", "售后服务", "客户要退 M 码睡衣（订单 {order_no}）改买 XL，已确认 XL 有货"),
        ],
    },
    {
        "key": "refund_waiting",
        "channel": "im",
        "hours_ago": 0.2,
        "order": {"items": [("ET-600", 1)], "shipping": "returning", "payment": "refunding", "days_ago": 9},
        "steps": [("c", "你好，我的退款申请提交三天了怎么没人处理？订单 {order_no}")],
    },
    {
        "key": "photo_later_snoozed",
        "channel": "im",
        "hours_ago": 5,
        "order": {"items": [("CG-32", 1)], "shipping": "delivered", "days_ago": 4},
        "agent": "wumin",
        "steps": [
            ("c", "炒锅底部有划痕，是新的吗？"),
            ("a", "您好，麻烦拍一张划痕的照片给我，我帮您判断是不是出厂问题。"),
            ("c", "我在上班，晚上回家拍给你"),
            ("a", "没问题，您晚上发过来我这边接着处理。"),
            ("snooze", 16),
        ],
    },
    {
        "key": "praise",
        "channel": "social",
        "hours_ago": 47,
        "agent": "linmeiling",
        "steps": [
            ("c", "表扬一下悦家的客服小林，耐心帮我选了半小时尺码，睡衣很舒服！"),
            ("a", "谢谢您的认可！能帮到您我们也很开心，祝您生活愉快～"),
            ("status", "closed"),
        ],
    },
    {
        "key": "elderly_phone_return",
        "channel": "phone",
        "hours_ago": 52,
        "order": {"items": [("YS-01", 1)], "shipping": "delivered", "days_ago": 5},
        "agent": "huxiaoting",
        "steps": [
            (
                "call",
                {
                    "direction": "inbound",
                    "seconds": 538,
                    "outcome": "resolved",
                    "summary": "老人不会用 App 申请退货，已代为提交电动牙刷退货申请并预约快递明天上门取件",
                },
            ),
            ("status", "closed"),
        ],
    },
    {
        "key": "kid_bottle_open",
        "channel": "web",
        "hours_ago": 3.5,
        "agent": "heyutong",
        "steps": [
            ("c", "儿童水壶适合几岁的孩子？吸管能单独买吗"),
            ("a", "您好，适合 3 岁以上的孩子；吸管配件可以单独购买，店铺搜索「水壶吸管」就能找到。"),
            ("c", "有几种颜色"),
        ],
    },
]
