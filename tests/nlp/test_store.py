import numpy as np

from kefu.nlp.store import Postings, TextStore, Vocabulary, gather_ranges


def test_vocabulary_finds_keys_before_and_after_consolidation():
    vocab = Vocabulary()
    ids = [vocab.add(k) for k in (50, -7, 2**62, 50)]
    assert ids == [0, 1, 2, 0]
    assert vocab.get_many([2**62, 3, -7]) == [2, -1, 1]
    vocab.consolidate()
    assert vocab.add(9) == 3
    assert vocab.get_many([9, 50, 4]) == [3, 0, -1]
    assert vocab.get(-7) == 1 and vocab.get(8) is None
    assert len(vocab) == 4


def test_text_store_round_trips_and_compacts():
    store = TextStore()
    for text in ("退款多久到账", "", "emoji 😀 ok", "繁體"):
        store.append(text)
    assert [store.get(i) for i in range(4)] == ["退款多久到账", "", "emoji 😀 ok", "繁體"]
    assert not store.has(1)
    kept = store.take(np.asarray([3, 0]))
    assert [kept.get(0), kept.get(1)] == ["繁體", "退款多久到账"]


def test_postings_merge_keeps_term_order_drops_and_renumbers_keys():
    postings = Postings()
    postings.add(2, key=0, kind=0, tf=1)
    postings.add(0, key=1, kind=0, tf=300)
    postings.stage([1, 2], key=2, kind=2, tfs=[1, 2])
    postings.merge(3, keep=None, remap=None)
    assert postings.indptr.tolist() == [0, 1, 2, 4]
    assert postings.key.tolist() == [1, 2, 0, 2] and postings.tf.tolist() == [255, 1, 1, 2]
    postings.merge(3, keep=np.asarray([False, True, True]), remap=np.asarray([-1, 0, 1]))
    assert postings.indptr.tolist() == [0, 1, 2, 3] and postings.key.tolist() == [0, 1, 1]


def test_gather_ranges_concatenates_ranges():
    assert gather_ranges(np.asarray([5, 0, 9]), np.asarray([2, 0, 3])).tolist() == [5, 6, 9, 10, 11]
