"""The demo shop's script library (话术库), written the way the handbooks teach:
acknowledge the feeling, say exactly what happens and when, close with a question."""

from __future__ import annotations

from typing import Any

LIBRARY: list[dict[str, Any]] = [
    # 问候
    {
        "title": "开场问候",
        "shortcut": "hi",
        "scenario": "问候",
        "text": "您好，{客户姓名}，我是客服{客服姓名}（工号{工号}），很高兴为您服务，请问有什么可以帮您？",
    },
    {
        "title": "老客户问候",
        "shortcut": "vip",
        "scenario": "问候",
        "intents": [],
        "text": "{客户姓名}您好，欢迎回来！我是{客服姓名}，您上次的问题处理得还满意吗？今天有什么可以帮您？",
    },
    # 等待
    {
        "title": "请稍等查询",
        "shortcut": "dd",
        "scenario": "等待",
        "text": "好的，我马上为您查询订单{订单号}的情况，大约需要2分钟，请您稍等。",
    },
    {
        "title": "查询较久致歉",
        "shortcut": "djq",
        "scenario": "等待",
        "text": "让您久等了，非常抱歉。我已联系相关同事核实，会在10分钟内给您准确答复。",
    },
    # 售前咨询
    {
        "title": "充电宝登机说明",
        "shortcut": "cdb",
        "scenario": "售前咨询",
        "intents": ["售前咨询"],
        "text": "您好，我们这款充电宝容量为10000mAh（37Wh），低于民航规定的100Wh，可以随身携带登机，但不能托运哦。",
    },
    {
        "title": "续航说明",
        "shortcut": "xh",
        "scenario": "售前咨询",
        "intents": ["售前咨询"],
        "text": "这款产品正常使用续航约12小时，待机约30天，充满电约需2小时。请问您主要在什么场景使用呢？",
    },
    {
        "title": "尺码建议",
        "shortcut": "cm",
        "scenario": "售前咨询",
        "intents": ["售前咨询"],
        "text": "为了推荐合适的尺码，麻烦告诉我您的身高和体重，我帮您对照尺码表确认一下。",
    },
    {
        "title": "库存与发货时间",
        "shortcut": "kc",
        "scenario": "售前咨询",
        "intents": ["售前咨询", "下单与支付"],
        "text": "这款目前有现货，今天16:00前付款当天发货，之后付款次日发货。",
    },
    # 下单与支付
    {
        "title": "支付失败处理",
        "shortcut": "zf",
        "scenario": "下单与支付",
        "intents": ["下单与支付"],
        "text": "给您添麻烦了。请您先确认银行卡余额和支付限额，然后退出重新进入支付页面再试一次；如果还不行，请把报错截图发给我，我马上帮您处理。",
    },
    {
        "title": "优惠券使用",
        "shortcut": "yhq",
        "scenario": "下单与支付",
        "intents": ["下单与支付"],
        "text": "优惠券需要在结算页面点击“优惠券”选择使用，满减券需要商品金额达到门槛。请问您现在看到的提示是什么呢？",
    },
    # 物流查询
    {
        "title": "物流进度告知",
        "shortcut": "wl",
        "scenario": "物流查询",
        "intents": ["物流查询"],
        "order_states": ["shipped", "in_transit", "delivering"],
        "text": "您的订单{订单号}已由{快递公司}发出，运单号{运单号}，当前状态：{物流状态}。有任何变化我会及时通知您。",
    },
    {
        "title": "预计送达时间",
        "shortcut": "yj",
        "scenario": "物流查询",
        "intents": ["物流查询"],
        "text": "您的订单{订单号}预计{预计送达}送达，请保持手机畅通以便快递员联系您。",
    },
    {
        "title": "待发货说明",
        "shortcut": "dfh",
        "scenario": "物流查询",
        "intents": ["物流查询", "物流延迟/催发货"],
        "order_states": ["pending"],
        "text": "您的订单{订单号}目前在仓库打包中，预计今天18:00前发出，发货后您会收到短信通知。",
    },
    # 物流延迟
    {
        "title": "物流停滞安抚",
        "shortcut": "wlyc",
        "scenario": "物流延迟",
        "intents": ["物流延迟/催发货"],
        "emotions": ["anxious", "dissatisfied"],
        "order_states": ["shipped", "in_transit"],
        "text": "非常理解您着急的心情，包裹三天没有更新确实让人担心。我已经联系{快递公司}核实运单{运单号}，今天18:00前给您回复结果。",
    },
    {
        "title": "催发货加急",
        "shortcut": "cfh",
        "scenario": "物流延迟",
        "intents": ["物流延迟/催发货"],
        "emotions": ["anxious"],
        "order_states": ["pending"],
        "text": "抱歉让您久等了！我已为订单{订单号}提交加急发货，仓库会在今天内优先处理，发出后我第一时间告诉您运单号。",
    },
    {
        "title": "丢件处理",
        "shortcut": "dj",
        "scenario": "物流延迟",
        "intents": ["物流延迟/催发货"],
        "emotions": ["dissatisfied", "angry"],
        "text": "非常抱歉给您带来困扰。经核实包裹在运输途中丢失，我们将在24小时内为您重新补发，并为您申请一张优惠券作为补偿，补发后我会把新运单号发给您。",
    },
    # 退换货
    {
        "title": "七天无理由退货",
        "shortcut": "th",
        "scenario": "退换货",
        "intents": ["退换货与退款"],
        "text": "本商品支持七天无理由退货。请在订单{订单号}页面点击“申请售后”选择退货，寄回地址：{退货地址}。我们收到商品后24小时内为您办理退款。",
    },
    {
        "title": "尺码不合适换货",
        "shortcut": "hh",
        "scenario": "退换货",
        "intents": ["退换货与退款"],
        "text": "尺码不合适可以免费换货哦。请在订单页面申请换货并选择新尺码，寄回地址：{退货地址}，我们收到后48小时内给您寄出新商品。",
    },
    {
        "title": "退款进度",
        "shortcut": "tk",
        "scenario": "退换货",
        "intents": ["退换货与退款"],
        "order_states": ["returning", "returned"],
        "text": "您的退款{金额}已提交，原路退回一般需要1-3个工作日到账，到账后您会收到银行通知。",
    },
    {
        "title": "运费险说明",
        "shortcut": "yfx",
        "scenario": "退换货",
        "intents": ["退换货与退款"],
        "text": "您的订单购买了运费险，退货时先垫付运费，退款完成后运费险理赔会在72小时内自动打到您的账户。",
    },
    # 质量问题
    {
        "title": "质量问题致歉取证",
        "shortcut": "zl",
        "scenario": "质量问题",
        "intents": ["商品质量问题"],
        "emotions": ["dissatisfied", "angry"],
        "text": "非常抱歉，给您带来了不好的体验。麻烦您拍一张{商品}问题部位的照片发给我，我确认后马上为您安排换新或退款。",
    },
    {
        "title": "保温杯漏水",
        "shortcut": "ls",
        "scenario": "质量问题",
        "intents": ["商品质量问题"],
        "text": "非常抱歉杯子出现漏水！请先检查杯盖内的密封圈是否装好；如果装好了仍然漏水，我们为您免费换新，新杯子今天安排发出。",
    },
    {
        "title": "错发漏发",
        "shortcut": "cf",
        "scenario": "质量问题",
        "intents": ["商品质量问题"],
        "text": "真的很抱歉发错了商品！您不用寄回，我们今天为您补发正确的{商品}，补发后我把运单号发给您。",
    },
    # 服务态度投诉
    {
        "title": "投诉受理安抚",
        "shortcut": "ts",
        "scenario": "服务态度投诉",
        "intents": ["服务态度投诉"],
        "emotions": ["angry", "dissatisfied"],
        "text": "非常抱歉让您有这样不愉快的经历，您的感受我完全理解。我已经记录下您反映的情况，将由主管亲自跟进，今天18:00前给您回复处理结果。",
    },
    {
        "title": "升级主管",
        "shortcut": "zg",
        "scenario": "服务态度投诉",
        "intents": ["服务态度投诉", "转人工"],
        "emotions": ["angry"],
        "text": "理解您的心情，我已经把您的情况完整转给值班主管，主管会在30分钟内联系您，您不需要再重复说明。",
    },
    {
        "title": "书面处理结果",
        "shortcut": "jg",
        "scenario": "服务态度投诉",
        "intents": ["服务态度投诉"],
        "text": "关于您反映的问题，处理结果如下：（请填写结果）。如您对结果有任何疑问，可以随时联系我，我是{客服姓名}，工号{工号}。",
    },
    # 发票
    {
        "title": "开具电子发票",
        "shortcut": "fp",
        "scenario": "发票",
        "intents": ["发票"],
        "text": "可以为您开具电子发票，请提供发票抬头和税号，开好后会在1个工作日内发送到您的邮箱。",
    },
    # 账户与技术
    {
        "title": "登录验证码问题",
        "shortcut": "dl",
        "scenario": "账户与技术",
        "intents": ["账户与技术问题"],
        "text": "请您先确认手机信号正常，并检查短信是否被拦截；60秒后可重新获取验证码。如果仍收不到，请告诉我手机型号和App版本，我转技术同事为您排查。",
    },
    {
        "title": "App闪退",
        "shortcut": "st",
        "scenario": "账户与技术",
        "intents": ["账户与技术问题"],
        "text": "给您添麻烦了。请先把App更新到最新版本并重启手机再试；如果还闪退，请告诉我手机型号和系统版本，技术同事会在今天内回复您。",
    },
    # 结束语
    {"title": "结束询问", "shortcut": "js", "scenario": "结束语", "text": "请问还有其他可以帮您的吗？"},
    {
        "title": "感谢与评价",
        "shortcut": "xx",
        "scenario": "结束语",
        "text": "感谢您的耐心，祝您生活愉快！稍后会有一个满意度评价，您的意见对我们很重要。",
    },
    {
        "title": "承诺回访",
        "shortcut": "hf",
        "scenario": "结束语",
        "text": "这个问题我会持续跟进，明天上午10:00前我再联系您确认处理结果。请问还有其他可以帮您的吗？",
    },
]
