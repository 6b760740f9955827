"""A readable report of what kefu understands of one message (``kefu nlp analyze "…"``)."""

from __future__ import annotations

from kefu.nlp.emotion import LABEL_NAMES, analyze_message
from kefu.nlp.intent import default_classifier
from kefu.nlp.normalize import normalize
from kefu.nlp.segment import cut


def analyze_text(text: str) -> str:
    """Normalised text, tokens, emotion with its signals and intent with confidence."""
    norm = normalize(text)
    emotion = analyze_message(text)
    intent = default_classifier().predict(text)
    lines = [
        f"原文:     {text}",
        f"规范化:   {norm.text}" + ("（繁体已转简体）" if norm.was_traditional else ""),
        f"分词:     {' / '.join(cut(norm.text))}",
        f"情绪:     {LABEL_NAMES[emotion.label]} ({emotion.label})  分数 {emotion.score:.1f}/10  "
        f"负面概率 {emotion.negative_probability:.2f}",
    ]
    if emotion.signals:
        lines.append("信号:")
        lines += [f"  - {s.description}  (+{s.weight:g})" for s in emotion.signals]
    else:
        lines.append("信号:     无")
    shown = intent.intent if intent.intent is not None else "不确定（交给人工判断）"
    lines.append(f"意图:     {shown}  置信度 {intent.confidence:.2f}")
    lines.append("候选:     " + "，".join(f"{name} {p:.2f}" for name, p in intent.ranked[:3]))
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(analyze_text(" ".join(sys.argv[1:]) or "我的訂單怎麼還沒到！！！"))
