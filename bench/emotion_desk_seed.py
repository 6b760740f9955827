"""Write ``src/kefu/nlp/data/emotion_desk_seed.jsonl``, the e-commerce desk training seed.

    .venv/bin/python bench/emotion_desk_seed.py

Plain shop questions (stock, sizes, materials, delivery, invoices, coupons, returns)
as calm and complaints as dissatisfied, made from templates with a fixed random
seed, so the file is rebuilt byte for byte. Any text that is also in the test
fixture ``tests/nlp/data/desk_calm_complaints.jsonl`` is dropped: the fixture
checks the model and must never be trained on.
"""

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from kefu.nlp.normalize import normalize

rng = random.Random(20261202)
products = [
    "保温杯",
    "保温壶",
    "焖烧杯",
    "空气炸锅",
    "电饭煲",
    "乳胶枕",
    "记忆枕",
    "电热水壶",
    "养生壶",
    "四件套",
    "床笠",
    "蚕丝被",
    "羽绒被",
    "夏凉被",
    "毛巾",
    "浴巾",
    "收纳箱",
    "拖鞋",
    "睡衣",
    "T恤",
    "卫衣",
    "牛仔裤",
    "连衣裙",
    "羽绒服",
    "运动鞋",
    "帆布鞋",
    "手机壳",
    "充电宝",
    "蓝牙耳机",
    "台灯",
    "加湿器",
    "电风扇",
    "吸尘器",
    "拖把",
    "砧板",
    "炒锅",
    "不粘锅",
    "餐具套装",
    "玻璃杯",
    "儿童水杯",
    "面霜",
    "洗发水",
    "沐浴露",
    "牙刷",
    "猫粮",
    "坚果礼盒",
    "茶叶",
    "书包",
    "行李箱",
    "雨伞",
]
attrs_q = [
    "会不会起球",
    "会不会掉色",
    "会不会缩水",
    "会不会变形",
    "有没有异味",
    "好不好清洗",
    "重不重",
    "容量多大",
    "是什么材质",
    "是纯棉的吗",
    "是304不锈钢的吗",
    "能机洗吗",
    "能放洗碗机吗",
    "能用多久",
    "保修几年",
    "有几个颜色",
    "有没有大一号的",
    "有没有小号",
    "适合几个人用",
    "适合送人吗",
    "适合老人用吗",
    "孩子能用吗",
    "冬天能用吗",
    "噪音大吗",
    "功率多少",
    "尺寸是多少",
    "是正品吗",
    "是哪里产的",
    "有没有赠品",
    "包装好看吗",
]
openers = [
    "",
    "",
    "",
    "你好，",
    "您好，",
    "亲，",
    "老板，",
    "客服你好，",
    "请问",
    "请问一下，",
    "问一下，",
    "在吗，",
    "打扰一下，",
    "麻烦问下，",
    "掌柜，",
    "小姐姐，",
]
closers = ["", "", "", "", "？", "?", "呀", "呢", "啊", "哈", "，谢谢", "，谢谢啦", "～", "。"]
general = [
    "有现货吗",
    "还有货吗",
    "什么时候补货",
    "今天能发吗",
    "几天能到",
    "发什么快递",
    "包邮吗",
    "能开发票吗",
    "能开专票吗",
    "发票抬头怎么填",
    "有优惠券吗",
    "怎么领券",
    "满减怎么算",
    "能便宜点吗",
    "有赠品吗",
    "支持七天无理由吗",
    "有运费险吗",
    "运费险怎么理赔",
    "怎么退货",
    "退款多久到账",
    "能改地址吗",
    "能改颜色吗",
    "能换尺码吗",
    "可以货到付款吗",
    "能分期吗",
    "预售几号发",
    "定金能退吗",
    "能合并发货吗",
    "能指定快递吗",
    "能送货上门吗",
    "物流到哪了",
    "帮我查下物流",
    "单号多少",
    "能备注吗",
    "能加急吗",
    "能开收据吗",
    "有实体店吗",
    "能刻字吗",
    "能定制吗",
    "能批量买吗",
    "偏大还是偏小",
    "是标准码吗",
    "有几斤重",
    "有多厚",
    "是单层还是双层",
    "送不送配件",
    "有没有替换装",
    "配件能单独买吗",
    "带不带包装盒",
    "能用在电磁炉上吗",
    "怎么寄回去",
    "寄回后多久处理",
    "退货要自己出运费吗",
    "换货要寄回去吗",
    "能晚几天发吗",
    "能放快递柜吗",
    "放门卫就行",
    "能下周再发吗",
    "明天能发出吗",
    "发货了会通知吗",
    "订单显示待发货正常吗",
    "付款成功了吗",
    "地址能改成公司吗",
    "收货人能改吗",
    "电话填错了能改吗",
    "能转售后吗",
    "能转人工吗",
    "售后电话多少",
    "说明书在哪",
    "保修卡在哪",
    "包邮不",
    "有货不",
    "能便宜不",
    "咋退货",
    "咋用券",
    "咋开发票",
    "几点发货",
    "几号到",
    "有检测报告吗",
    "有合格证吗",
    "会员有优惠吗",
    "积分怎么用",
    "怎么联系售后",
    "怎么申请换货",
    "说明书有电子版吗",
    "怎么使用",
    "怎么安装",
    "怎么清洗",
    "第一次用要注意什么",
    "有视频教程吗",
]
sizes = [
    "身高165体重55公斤穿什么码",
    "平时穿L码选哪个",
    "120斤穿M还是L",
    "脚长24厘米穿多大",
    "1.5米的床选哪个尺寸",
    "1.8米的床用多大的被套",
    "宝宝两岁穿多大",
    "胸围90选什么码",
]
calm = set()


for _ in range(9000):
    p = rng.choice(products)
    k = rng.random()
    if k < 0.4:
        core = p + rng.choice(attrs_q)
    elif k < 0.75:
        core = (
            p + rng.choice(["", "的", "这款", "这个"])
            if rng.random() < 0.5
            else rng.choice(["这个", "这款", "", ""])
        ) + rng.choice(general)
    elif k < 0.85:
        core = rng.choice(["这个", "这件", "这双", ""]) + rng.choice(sizes)
    else:
        core = (
            rng.choice(["我想买个", "想给家里买个", "给我妈买个", "送朋友一个", "公司要采购一批"])
            + p
            + "，"
            + rng.choice(general + attrs_q)
        )
    t = rng.choice(openers) + core + rng.choice(closers)
    calm.add(t)
calm_extra = [
    "好的，谢谢",
    "收到，辛苦了",
    "行，那我下单了",
    "嗯嗯知道了",
    "明白，感谢",
    "好的亲，麻烦了",
    "那我再考虑一下",
    "我先看看",
    "拍下了，记得发货哈",
    "已付款，麻烦安排",
    "好评了，谢谢客服",
    "东西收到了，挺满意的",
]
calm |= set(calm_extra)
negs = set()
neg_core = [
    "收到就是坏的",
    "用了两天就坏了",
    "质量太差了",
    "跟图片不一样",
    "有很大的异味",
    "漏水",
    "掉色严重",
    "起球起得厉害",
    "尺码标错了",
    "发错货了",
    "少发了配件",
    "包装破了里面也坏了",
    "是二手的吧，有使用痕迹",
    "根本不能用",
]
neg_other = [
    "退款申请了好几天没人处理",
    "客服一直不回消息",
    "说好的补偿没兑现",
    "退货寄回去半个月没退款",
    "快递员态度很差",
    "快递丢件了没人管",
    "物流一周没更新",
    "发票一直不给开",
    "优惠券不能用还不给补",
    "价格刚买就降了不给保价",
    "售后一直推脱",
    "拒绝退货还说是我弄坏的",
    "承诺的时间又没做到",
    "问题反映了三次还是没解决",
]
for _ in range(2500):
    p = rng.choice(products)
    t = (
        rng.choice(["", "你好，", "客服，", "我说，", "喂，"])
        + (p + rng.choice(neg_core) if rng.random() < 0.55 else rng.choice(neg_other))
        + rng.choice(
            [
                "",
                "，怎么处理",
                "，给个说法",
                "，太失望了",
                "，你们看着办",
                "！",
                "！！",
                "，什么情况",
                "，能不能负点责任",
            ]
        )
    )
    negs.add(t)
fixture = {
    normalize(json.loads(line)["text"]).text
    for line in open(Path(__file__).resolve().parents[1] / "tests/nlp/data/desk_calm_complaints.jsonl")
}
calm = sorted(t for t in calm if normalize(t).text not in fixture)
negs = sorted(t for t in negs if normalize(t).text not in fixture)
calm = rng.sample(calm, min(2000, len(calm)))
negs = rng.sample(negs, min(700, len(negs)))
with open(Path(__file__).resolve().parents[1] / "src/kefu/nlp/data/emotion_desk_seed.jsonl", "w") as f:
    for t in sorted(calm):
        f.write(json.dumps({"text": t, "label": "calm"}, ensure_ascii=False) + "\n")
    for t in sorted(negs):
        f.write(json.dumps({"text": t, "label": "dissatisfied"}, ensure_ascii=False) + "\n")
print(len(calm), len(negs))
