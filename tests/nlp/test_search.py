import pytest

from kefu.nlp.search import Document, SearchIndex


def ids(hits):
    return [h.doc_id for h in hits]


@pytest.fixture
def index():
    ix = SearchIndex()
    ix.bulk_load(
        [
            Document(1, "退款多久到账", "审核通过后 1-3 个工作日原路退回。", category_id=10),
            Document(2, "物流一直不更新怎么办", "包裹 48 小时没有新的轨迹请联系客服。", category_id=20),
            Document(3, "保温杯漏水怎么处理", "属于质量问题的可以申请换货。", category_id=20),
            Document(4, "如何开具电子发票", "在订单详情页点击申请开票。", category_id=30),
        ]
    )
    return ix


def test_synonym_in_query_finds_article_using_the_other_word(index):
    assert ids(index.search("快递一直不更新"))[0] == 2
    assert ids(index.search("退钱要几天"))[0] == 1


def test_set_synonyms_replaces_the_groups(index):
    index.set_synonyms({"快递": ["物流"]})
    assert ids(index.search("快递"))[:1] == [2]
    index.set_synonyms({})
    assert index.search("快递") == []


def test_traditional_query_finds_simplified_article(index):
    assert ids(index.search("退款多久到賬？"))[0] == 1
    assert ids(index.search("如何開具電子發票"))[0] == 4


def test_full_width_and_case_do_not_matter():
    ix = SearchIndex()
    ix.upsert(Document("a", "iPhone 充电很慢"))
    assert ids(ix.search("ＩＰＨＯＮＥ充电")) == ["a"]


def test_homophone_typo_of_registered_product_name_matches():
    ix = SearchIndex()
    ix.upsert(Document(1, "保温杯漏水"))
    assert ix.search("保文杯") == []  # nothing in common until the name is registered
    ix.add_product_names(["保温杯"])
    assert ids(ix.search("保文杯")) == [1]


def test_one_character_typo_of_registered_product_name_matches():
    ix = SearchIndex()
    ix.upsert(Document(1, "扫地机器人不充电", body="检查充电座"))
    ix.upsert(Document(2, "洗碗机不出水"))
    ix.add_product_names(["扫地机器人", "洗碗机"])
    assert ids(ix.search("扫地鸡器人"))[:1] == [1]
    assert ids(ix.search("扫地机器仁"))[:1] == [1]
    assert ids(ix.search("洗完机"))[:1] == [2]


def test_character_bigrams_match_text_jieba_segments_differently():
    ix = SearchIndex()
    ix.upsert(Document(1, "蓝牙耳机单边没声音"))
    assert ids(ix.search("耳机单边不响")) == [1]


def test_category_filter(index):
    assert ids(index.search("怎么办", category_ids=[20])) == [2, 3]
    assert ids(index.search("怎么办")) == [2, 3]  # not 4: 如何 is not 怎么
    assert set(ids(index.search("怎么", category_ids=[10, 30]))) == set()
    assert set(ids(index.search("申请", category_ids=[20, 30]))) == {3, 4}
    assert index.search("退款", category_ids=[999]) == []


def test_only_published_articles_are_found_by_default():
    ix = SearchIndex()
    ix.upsert(Document(1, "退款多久到账", status="draft"))
    ix.upsert(Document(2, "退款失败怎么办", status="archived"))
    assert ix.search("退款") == []
    assert ids(ix.search("退款", statuses=("draft",))) == [1]
    assert set(ids(ix.search("退款", statuses=("draft", "archived")))) == {1, 2}


def test_unknown_status_is_refused():
    with pytest.raises(ValueError):
        SearchIndex().upsert(Document(1, "x", status="deleted"))


def test_upsert_is_visible_to_the_next_search(index):
    index.upsert(Document(5, "会员积分怎么兑换"))
    assert ids(index.search("积分兑换")) == [5]
    index.upsert(Document(5, "会员等级说明"))
    assert index.search("积分兑换") == []
    assert ids(index.search("会员等级")) == [5]


def test_publishing_a_draft_is_visible_to_the_next_search():
    ix = SearchIndex()
    ix.upsert(Document(1, "退款多久到账", status="draft"))
    assert ix.search("退款") == []
    ix.upsert(Document(1, "退款多久到账", status="published"))
    assert ids(ix.search("退款")) == [1]


def test_remove_is_visible_to_the_next_search(index):
    assert index.remove(1) is True
    assert 1 not in ids(index.search("退款多久到账"))
    assert index.remove(1) is False
    assert len(index) == 3


def test_many_edits_keep_results_exact():
    # Enough replacements to trigger compaction of dead postings.
    ix = SearchIndex()
    for fruit in ("苹果", "香蕉", "葡萄"):
        ix.bulk_load(Document(i, f"商品{i}号 {fruit}") for i in range(1500))
    assert len(ix) == 1500
    assert ids(ix.search("商品7号", limit=1)) == [7]
    assert ix.search("苹果") == [] and ix.search("香蕉") == []
    assert len(ix.search("葡萄", limit=2000)) == 1500


def test_snippet_escapes_html_and_marks_matches():
    ix = SearchIndex()
    ix.upsert(Document(1, "页面说明", body="退款说明 <script>alert('退款')</script> & 更多"))
    hit = ix.search("退款")[0]
    assert hit.matched_field == "body"
    assert "<script>" not in hit.snippet_html
    assert "&lt;script&gt;" in hit.snippet_html
    assert "&amp;" in hit.snippet_html
    assert "<mark>退款</mark>说明" in hit.snippet_html


def test_snippet_marks_original_traditional_text():
    ix = SearchIndex()
    ix.upsert(Document(1, "退貨運費誰出"))
    assert ix.search("退货运费")[0].snippet_html == "<mark>退貨運費</mark>誰出"


def test_long_body_snippet_is_cut_around_the_match():
    ix = SearchIndex()
    ix.upsert(Document(1, "说明", body="无关内容。" * 100 + "发票在订单页申请。" + "其他内容。" * 100))
    snippet = ix.search("发票")[0].snippet_html
    assert "<mark>发票</mark>" in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) < 150


def test_matching_similar_question_ranks_above_body_mention():
    ix = SearchIndex()
    ix.upsert(Document(1, "修改收货地址", similar_questions=["下单后地址填错了能改吗"]))
    ix.upsert(Document(2, "下单须知", body="地址填错了请在发货前联系客服修改。"))
    hits = ix.search("地址填错了")
    assert ids(hits) == [1, 2]
    assert hits[0].matched_field == "similar_question"
    assert hits[0].snippet_html == "下单后<mark>地址填错了</mark>能改吗"


def test_many_similar_questions_do_not_outweigh_one_exact_match():
    ix = SearchIndex()
    ix.upsert(Document(1, "花呗怎么还款", similar_questions=[f"花呗还款问题{i}" for i in range(30)]))
    ix.upsert(Document(2, "花呗逾期了怎么办", similar_questions=["花呗还款逾期"]))
    assert ids(ix.search("花呗还款逾期"))[0] == 2


def test_title_match_beats_body_match():
    ix = SearchIndex()
    ix.upsert(Document(1, "运费说明", body="满 99 元包邮，偏远地区除外。"))
    ix.upsert(Document(2, "包邮规则"))
    assert ids(ix.search("包邮")) == [2, 1]


def test_helpfulness_breaks_a_tie():
    ix = SearchIndex()
    ix.upsert(Document(1, "退款说明", helpfulness=-0.5))
    ix.upsert(Document(2, "退款说明", helpfulness=0.8))
    assert ids(ix.search("退款说明")) == [2, 1]


def test_question_particles_alone_do_not_decide_the_ranking():
    ix = SearchIndex()
    ix.upsert(Document(1, "怎么样才能怎么退款呢吗"))
    ix.upsert(Document(2, "退款规则"))
    assert ids(ix.search("退款规则怎么样呢"))[0] == 2


def test_empty_or_punctuation_query_finds_nothing(index):
    assert index.search("") == []
    assert index.search("？？？！") == []
    assert index.search("退款", limit=0) == []


def test_searches_and_edits_from_several_threads():
    import threading

    ix = SearchIndex()
    ix.upsert(Document(0, "退款说明"))
    errors = []

    def edit():
        try:
            for i in range(1, 300):
                ix.upsert(Document(i, f"退款说明第{i}条", body="退款原路返回" * (i % 5)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read():
        try:
            for _ in range(300):
                ix.search("退款说明")
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=edit), threading.Thread(target=read), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(ix.search("退款说明", limit=500)) == 300


def test_long_pasted_query_is_cut_but_still_matches():
    ix = SearchIndex()
    ix.upsert(Document(1, "保温杯漏水"))
    ix.add_product_names(["保温杯"])
    assert ids(ix.search("我买的保文杯漏水了" * 200)) == [1]


def test_set_helpfulness_reorders_without_reindexing():
    ix = SearchIndex()
    ix.upsert(Document(1, "退款说明"))
    ix.upsert(Document(2, "退款说明"))
    assert ids(ix.search("退款说明")) == [1, 2]
    assert ix.set_helpfulness(2, 1.0) is True
    assert ids(ix.search("退款说明")) == [2, 1]
    assert ix.set_helpfulness(99, 1.0) is False


def test_set_status_is_visible_to_the_next_search():
    ix = SearchIndex()
    ix.upsert(Document(1, "退款说明", status="draft"))
    assert ix.search("退款") == []
    assert ix.set_status(1, "published") is True
    assert ids(ix.search("退款")) == [1]
    ix.set_status(1, "archived")
    assert ix.search("退款") == []
    assert ids(ix.search("退款", statuses=("archived",))) == [1]
    with pytest.raises(ValueError):
        ix.set_status(1, "deleted")


def test_synonym_inside_a_longer_dictionary_word_does_not_expand():
    ix = SearchIndex()
    ix.set_synonyms({"优惠券": ["券"]})
    ix.upsert(Document(1, "优惠券怎么使用", "下单时在结算页选择可用的优惠券。"))
    assert ids(ix.search("券不能用了")) == [1]  # 券 on its own is the coupon
    assert ix.search("证券账户怎么开") == []  # 券 inside 证券 (securities) is not


def test_synonym_spanning_words_or_at_the_start_of_a_word_still_expands():
    ix = SearchIndex()
    ix.set_synonyms({"修改地址": ["改地址"], "物流": ["快递"]})
    ix.upsert(Document(1, "如何修改地址", "未发货的订单可以在订单详情页修改地址。"))
    ix.upsert(Document(2, "物流信息查询", "在订单详情页查看物流轨迹。"))
    assert ids(ix.search("我要改地址"))[:1] == [1]
    assert ids(ix.search("快递员一直不来"))[:1] == [2]


def test_a_shared_character_alone_is_not_a_match():
    ix = SearchIndex()
    ix.upsert(Document(1, "如何申请售后维修"))
    assert ix.search("返修") == []  # 修 in common, no word or bigram


def test_characters_rank_the_paraphrase_that_shares_them():
    ix = SearchIndex()
    ix.upsert(Document(1, "借呗还款日可以改吗"))
    ix.upsert(Document(2, "借呗额度可以提高吗"))
    # Both share 借呗 and 可以; only the first shares 还 and 款 (还不上款 is no jieba word of either).
    assert ids(ix.search("借呗的款还不上了可以晚几天吗"))[0] == 1


def test_search_many_gives_the_same_hits_as_search(index):
    queries = ["退款多久", "快递不更新", "发票", "？？"]
    assert index.search_many(queries, limit=3, snippets=True) == [index.search(q, limit=3) for q in queries]


def test_scores_cover_every_matching_document_in_search_order(index):
    scores = index.scores("怎么办")
    assert set(scores) == {2, 3}
    hits = index.search("怎么办")
    assert [h.doc_id for h in hits] == sorted(scores, key=lambda d: -scores[d])
    assert [round(h.score, 5) for h in hits] == [round(scores[h.doc_id], 5) for h in hits]
    assert index.scores("？？") == {}


def test_confidence_is_high_for_the_asked_question_and_low_for_a_stray_match(index):
    exact = index.search("保温杯漏水怎么处理")[0]
    stray = index.search("会员积分怎么兑换申请")[0]  # shares only 申请 with article 3's body
    assert 0.0 <= stray.confidence < 0.2 < 0.8 < exact.confidence <= 1.0


def test_replacing_most_documents_compacts_and_keeps_filters_and_similar_questions():
    ix = SearchIndex()
    for fruit in ("苹果", "香蕉", "葡萄"):
        ix.bulk_load(
            Document(
                i,
                f"商品{i}号 {fruit}",
                similar_questions=[f"第{i}号{fruit}怎么吃"],
                category_id=i % 3,
                status="published" if i % 2 else "draft",
            )
            for i in range(600)
        )
    assert len(ix) == 600
    assert ids(ix.search("第7号葡萄怎么吃", limit=1)) == [7]
    assert ix.search("第7号葡萄怎么吃", limit=1)[0].matched_field == "similar_question"
    assert ix.search("苹果") == [] and ix.search("香蕉") == []
    assert 8 not in ids(ix.search("商品8号 葡萄", limit=600))  # a draft
    assert ids(ix.search("商品7号 葡萄", category_ids=[1], limit=1)) == [7]
    assert 7 not in ids(ix.search("商品7号 葡萄", category_ids=[0], limit=600))


def test_a_word_first_asked_for_before_any_article_has_it_is_found_once_one_does(index):
    assert index.search("蓝牙耳机断连") == []
    index.upsert(Document(5, "蓝牙耳机断连怎么办", "重新配对即可。"))
    assert ids(index.search("蓝牙耳机断连"))[0] == 5
    index.remove(5)
    assert 5 not in ids(index.search("蓝牙耳机断连"))


def test_remembered_term_ids_survive_compaction():
    ix = SearchIndex()
    ix.bulk_load(Document(i, f"第{i}号商品的退款多久到账") for i in range(300))
    ix.upsert(Document("vip", "会员积分怎么兑换优惠券"))
    assert ids(ix.search("积分兑换"))[:1] == ["vip"]
    for i in range(300):  # a quarter of the slots dead: the next edit compacts and renumbers
        ix.remove(i)
    ix.upsert(Document("new", "积分过期了还能兑换吗"))
    assert set(ids(ix.search("积分兑换"))) == {"vip", "new"}


def test_hits_are_immutable(index):
    hit = index.search("退款多久到账")[0]
    with pytest.raises(AttributeError):
        hit.score = 1.0  # type: ignore[misc]
