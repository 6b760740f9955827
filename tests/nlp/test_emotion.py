from datetime import UTC, datetime, timedelta

import pytest

from kefu.nlp import emotion
from kefu.nlp.emotion import Turn, analyze_conversation, analyze_message, message_signals
from kefu.nlp.features import LinearModel
from kefu.nlp.train import EVALDATA_DIR, train_emotion

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _codes(text: str) -> set[str]:
    return {s.code for s in message_signals(text)}


@pytest.mark.parametrize(
    ("code", "simplified", "traditional"),
    [
        ("insult", "你是白痴吗", "你是白癡嗎"),
        ("anger_words", "你们这些骗子，气死我了", "你們這些騙子，氣死我了"),
        ("complaint_threat", "再不处理我就打12315投诉", "再不處理我就打12315投訴"),
        ("complaint_threat", "必须给差评", "必須給差評"),
        ("exposure_threat", "我要找媒体曝光你们", "我要找媒體曝光你們"),
        ("exposure_threat", "我会请律师起诉", "我會請律師起訴"),
        ("supervisor", "叫你们主管出来", "叫你們主管出來"),
        ("churn", "再也不买你们家的东西了", "再也不買你們家的東西了"),
        ("dissatisfied_words", "太失望了，一直在敷衍", "太失望了，一直在敷衍"),
        ("anxious_words", "我很着急，明天就要用", "我很著急，明天就要用"),
        ("progress_question", "怎么还没发货", "怎麼還沒發貨"),
        ("sarcasm", "呵呵，真是好样的", "呵呵，真是好樣的"),
        ("exclamations", "快点发货!!!!", "快點發貨！！！！"),
        ("questions", "人呢???", "人呢？？？"),
    ],
)
def test_signal_found_in_simplified_and_traditional(code, simplified, traditional):
    assert code in _codes(simplified)
    assert code in _codes(traditional)


def test_signals_carry_chinese_descriptions():
    signals = {s.code: s for s in message_signals("垃圾！！！！我要投诉")}
    assert signals["exclamations"].description == "感叹号 ×4"
    assert "投诉" in signals["complaint_threat"].description
    assert message_signals("叫你们领导来")[0].description == "要求找主管"


def test_negated_word_is_not_a_signal():
    assert "anxious_words" not in _codes("不着急，慢慢来")
    assert "anger_words" not in _codes("我没生气")


def test_rubbish_bag_is_not_an_insult():
    assert "anger_words" not in _codes("垃圾袋有没有大号的")


def test_committed_model_loads_with_the_four_labels():
    model = LinearModel.load(emotion.MODEL_PATH)
    assert set(model.classes) == set(emotion.LABELS)
    assert emotion.MODEL_PATH.stat().st_size < 3_000_000


def test_committed_model_has_polarity_views_on_the_same_features():
    model = emotion.EmotionModel.load(emotion.MODEL_PATH)
    assert model.polarity.classes == ("calm", "negative")
    assert len(model.views) == 2
    assert all(v.n_buckets == model.emotion.n_buckets for v in (model.polarity, *model.views))


def test_negative_probability_is_the_mean_of_every_view():
    model = emotion.emotion_model()
    ids = model.feature_ids("质量太差了，用了两天就坏了")
    four = model.emotion.proba_ids(ids)
    votes = [m.proba_ids(ids)[1] for m in (model.polarity, *model.views)]
    if model.four_label_votes:
        votes.append(1.0 - four[model.emotion.classes.index("calm")])
    expected = sum(votes) / len(votes)
    assert model.predict_ids(ids)[1] == pytest.approx(expected)
    assert expected > 0.5


def test_model_file_round_trips(tmp_path):
    model = emotion.emotion_model()
    model.save(tmp_path / "m.npz")
    again = emotion.EmotionModel.load(tmp_path / "m.npz")
    ids = model.feature_ids("怎么还没发货")
    assert again.predict_ids(ids) == model.predict_ids(ids)
    assert again.four_label_votes == model.four_label_votes


def test_neutral_question_is_calm():
    result = analyze_message("请问这个耳机防水吗")
    assert result.label == "calm"
    assert result.score < emotion.CALM_BELOW


def test_threat_with_insult_is_angry_with_high_score():
    result = analyze_message("你们这什么垃圾服务，我要投诉到12315！")
    assert result.label == "angry"
    assert result.score >= 8
    assert 0.0 <= result.negative_probability <= 1.0


def test_traditional_message_gets_the_same_result_as_simplified():
    assert analyze_message("我的訂單怎麼還沒到！！！") == analyze_message("我的订单怎么还没到!!!")


def test_waiting_for_delivery_is_anxious():
    assert analyze_message("我的订单怎么还没到!!!").label == "anxious"


def test_score_stays_between_0_and_10():
    result = analyze_message("傻逼骗子垃圾！！！！！！我要投诉12315找律师曝光你们叫主管再也不买")
    assert result.score == 10.0


def test_conversation_rising():
    turns = [
        Turn("customer", "你好，请问我的快递到哪了", T0),
        Turn("agent", "您好，正在为您查询", T0 + timedelta(minutes=1)),
        Turn("customer", "怎么还没查到？", T0 + timedelta(minutes=3)),
        Turn("customer", "到底什么时候到？？？我很着急", T0 + timedelta(minutes=4)),
        Turn("customer", "再不回我就投诉了！！！", T0 + timedelta(minutes=5)),
    ]
    result = analyze_conversation(turns)
    assert result.trend == "rising"
    assert result.label in {"anxious", "angry"}
    assert result.per_message[1] is None and len(result.per_message) == 5
    codes = {s.code for s in result.signals}
    assert {"unanswered", "repeated_progress"} <= codes


def test_conversation_recovered_after_apology():
    turns = [
        Turn("customer", "你们这些骗子，东西是坏的，我要投诉！！！", T0),
        Turn("agent", "非常抱歉给您带来不便，已为您安排补发并退款运费", T0 + timedelta(minutes=1)),
        Turn("customer", "好的，谢谢", T0 + timedelta(minutes=2)),
    ]
    result = analyze_conversation(turns)
    assert result.trend == "recovered"
    assert result.label == "calm"
    assert result.per_message[0] >= 8


def test_thanks_at_the_end_is_not_a_wait():
    turns = [
        Turn("customer", "请问能开发票吗", T0),
        Turn("agent", "已为您开好，请查收邮箱", T0 + timedelta(minutes=1)),
        Turn("customer", "好的，谢谢！", T0 + timedelta(minutes=2)),
    ]
    result = analyze_conversation(turns, now=T0 + timedelta(hours=2))
    assert "long_wait" not in {s.code for s in result.signals}


def test_unanswered_messages_are_counted():
    turns = [Turn("customer", text) for text in ("在吗", "有人吗", "人呢", "回一下")]
    result = analyze_conversation(turns)
    assert "连续4条消息未回复" in {s.description for s in result.signals}


def test_long_wait_is_measured_to_now():
    turns = [
        Turn("customer", "请问能开发票吗", T0),
        Turn("agent", "可以的，请提供抬头", T0 + timedelta(minutes=1)),
        Turn("customer", "抬头是某某公司", T0 + timedelta(minutes=2)),
    ]
    quick = analyze_conversation(turns, now=T0 + timedelta(minutes=3))
    slow = analyze_conversation(turns, now=T0 + timedelta(minutes=41))
    assert "long_wait" not in {s.code for s in quick.signals}
    wait = next(s for s in slow.signals if s.code == "long_wait")
    assert wait.description == "已等待回复 40 分钟"
    assert slow.score > quick.score


def test_conversation_signals_work_on_traditional_text():
    turns = [
        Turn("customer", "怎麼還沒發貨"),
        Turn("customer", "還沒到嗎"),
        Turn("customer", "到底什麼時候發"),
    ]
    codes = {s.code for s in analyze_conversation(turns).signals}
    assert "repeated_progress" in codes


@pytest.mark.skipif(not EVALDATA_DIR.exists(), reason="needs the labelled sets")
def test_training_twice_gives_identical_bytes(tmp_path):
    train_emotion(limit=150).save(tmp_path / "a.npz")
    train_emotion(limit=150).save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


@pytest.mark.parametrize(
    ("simplified", "traditional"),
    [
        # Shop words that contain an angry word: product names, greetings, payment terms.
        ("老板，这个还有货吗", "老闆，這個還有貨嗎"),
        ("空气炸锅第一次用有股塑料味，正常吗？", "空氣炸鍋第一次用有股塑料味，正常嗎？"),
        ("App 卸载重装后登录不了", "App 卸載重裝後登錄不了"),
        ("这台电脑的多媒体键怎么用", "這臺電腦的多媒體鍵怎麼用"),
        ("烟雾报警器怎么安装", "煙霧報警器怎麼安裝"),
        ("订单号 202611231234567 查一下物流", "訂單號 202611231234567 查一下物流"),
        ("用工商银行的卡付款失败", "用工商銀行的卡付款失敗"),
        ("订单不满300能用券吗", "訂單不滿300能用券嗎"),
        ("不满足使用条件是什么意思", "不滿足使用條件是什麼意思"),
        ("验证码邮件被当成垃圾邮件了", "驗證碼郵件被當成垃圾郵件了"),
        ("这个耳机是不是有毛病，左耳没声音", "這個耳機是不是有毛病，左耳沒聲音"),
        ("这个能去死皮吗", "這個能去死皮嗎"),
        ("这是送我妈的生日礼物，能帮忙包装吗", "這是送我媽的生日禮物，能幫忙包裝嗎"),
        ("燃气灶火大小可以调吗", "燃氣竈火大小可以調嗎"),
        ("你们最近搞什么活动吗", "你們最近搞什麼活動嗎"),
        ("他妈妈穿多大码合适", "他媽媽穿多大碼合適"),
        ("这个废物利用的收纳盒有别的颜色吗", "這個廢物利用的收納盒有別的顏色嗎"),
        ("客户经理说可以开专票", "客戶經理說可以開專票"),
        ("等了一星期了", "等了一星期了"),
    ],
)
def test_shop_words_containing_an_angry_word_raise_no_anger_signal(simplified, traditional):
    angry_codes = {"insult", "anger_words", "complaint_threat", "exposure_threat", "supervisor", "churn"}
    for text in (simplified, traditional):
        assert not _codes(text) & (angry_codes | {"dissatisfied_words"}), text


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("supervisor", "叫你们老板出来"),
        ("supervisor", "我要找你们经理"),
        ("supervisor", "你們的主管呢"),
        ("anger_words", "你们是不是有毛病"),
        ("anger_words", "气炸了"),
        ("insult", "他妈的什么破服务"),
        ("complaint_threat", "我要打12315"),
        ("complaint_threat", "给你们一星"),
        ("exposure_threat", "我要找媒体曝光"),
        ("churn", "已经卸载了，再也不用了"),
        ("dissatisfied_words", "我很不满"),
        # Ways customers say it that the first word lists missed.
        ("supervisor", "换个能解决问题的客服"),
        ("progress_question", "物流三天没更新了"),
        ("progress_question", "快遞一直卡在中轉站不動"),
        ("progress_question", "怎么还在路上，别人的早到了"),
        ("anxious_words", "等了快兩週了，怎麼回事"),
        ("dissatisfied_words", "快递员骂人"),
    ],
)
def test_the_narrowed_patterns_still_catch_the_real_thing(code, text):
    assert code in _codes(text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("我要去12315投訴你們", ("12315", "投诉")),
        ("再不處理我就去消費者協會", ("消费者协会",)),
        ("我已經請了律師，準備起訴", ("律师", "起诉")),
        ("我要找媒體曝光你們", ("媒体", "曝光")),
        ("我要向市场监督管理局举报你们", ("市场监督", "举报")),
        ("等着收法院传票吧", ("法院",)),
        ("不解决我就去找电视台", ("找电视台",)),
        ("我会申请仲裁", ("仲裁",)),
    ],
)
def test_threats_to_go_outside_the_shop_are_a_complaint_risk(text, words):
    assert emotion.complaint_risk(message_signals(text)) == words


@pytest.mark.parametrize(
    "text",
    [
        "必须给差评",
        "給你們一星",
        "质量太差了，很失望",
        "这是电视台同款吗",
        "我没投诉，就是问问",
        "多媒体播放器有货吗",
    ],
)
def test_a_bad_review_or_dissatisfaction_is_no_complaint_risk(text):
    assert emotion.complaint_risk(message_signals(text)) == ()


@pytest.mark.parametrize(
    "text", ["买两件能不能再便宜点", "七天无理由退货怎么操作", "下单后能不能加购一件一起发"]
)
def test_plain_requests_weigh_the_models_less(text):
    # Questions of kefu's intent seed (a dev set) that reviews' words made read 不满.
    result = analyze_message(text)
    assert result.plain_request and not result.signals
    assert emotion.MODEL_WEIGHT * result.negative_probability >= emotion.CALM_BELOW  # undamped: not calm
    assert result.score == round(
        emotion.MODEL_WEIGHT * emotion.REQUEST_DAMPING * result.negative_probability, 1
    )
    assert result.label == "calm"


@pytest.mark.parametrize(
    "text",
    [
        "凭什么不让我退货",  # rhetorical
        "保温杯收到就漏水了吗",  # a question, but the intent model reads a quality complaint
        "你们到底能不能发货",  # rhetorical (到底), and a rule signal
        "请问我上个月在你们店买的那台空气炸锅，才用了三次就不加热了，按键也失灵了，能不能给我换一台新的",  # a story
    ],
)
def test_complaints_in_question_form_are_not_damped(text):
    result = analyze_message(text)
    assert not result.plain_request
    assert result.label != "calm"
