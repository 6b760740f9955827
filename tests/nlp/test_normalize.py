from kefu.nlp.normalize import normalize


def test_traditional_and_simplified_normalise_to_the_same_text():
    traditional = normalize("我的訂單怎麼還沒到！！！")
    simplified = normalize("我的订单怎么还没到!!!")
    assert traditional.text == simplified.text == "我的订单怎么还没到!"
    assert traditional.exclamations == simplified.exclamations == 3
    assert traditional.longest_exclamation_run == 3
    assert traditional.was_traditional and not simplified.was_traditional


def test_full_width_latin_is_case_folded_to_half_width():
    assert normalize("ＡＰＰ打不開？？").text == "app打不开?"


def test_question_marks_are_counted_before_collapsing():
    norm = normalize("在吗？？？在吗?")
    assert norm.questions == 4
    assert norm.longest_question_run == 3
    assert norm.text == "在吗?在吗?"
