"""The built-in embedder's conversion, proved: llama.cpp's vectors from the converted GGUF
match an independent numpy forward pass of the same pinned safetensors weights
(bert_reference.py, tokenized with the ``tokenizers`` package) for a few hundred
sentences in many scripts: cosine above 0.999 for every one.

Also: the pins refuse other bytes, the conversion is atomic, and the GGUF carries what
llama.cpp needs (DESIGN §9).
"""

from __future__ import annotations

import hashlib
import itertools
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from desktopchat.core.documents import default_embedder
from desktopchat.core.documents.default_embedder import (
    DEFAULT_EMBEDDER_ID,
    DIMENSIONS,
    MAX_TOKENS,
    EmbedderUnavailableError,
    default_embedder_path,
    source_folder,
    tokenizer_path,
    weights_path,
)
from desktopchat.core.inference.llama.embedding import LlamaEmbedder
from desktopchat.core.models.embedder_convert import BertSource, convert_bert, wordpiece_to_llama
from desktopchat.core.models.gguf import read_gguf
from tests.core.documents.bert_reference import BertReference

SENTENCES: dict[str, list[str]] = {
    "English": [
        "The invoice is due at the end of the month.",
        "Restart the router and wait two minutes before connecting again.",
        "Our quarterly revenue grew by 12% compared with last year.",
        "The patient reported mild headaches after the second dose.",
        "Please sign the contract and return it by Friday.",
        "How do I reset my password if I lost access to my email?",
        "The bridge was closed for repairs during the winter.",
        "She plays the violin in the city orchestra.",
    ],
    "German": [
        "Die Rechnung ist am Monatsende fällig.",
        "Starten Sie den Router neu und warten Sie zwei Minuten.",
        "Der Vertrag muss bis Freitag unterschrieben werden.",
        "Straßenbahnhaltestelle und Fußgängerübergang liegen nebeneinander.",
        "Wie setze ich mein Passwort zurück?",
        "Die Brücke war im Winter wegen Bauarbeiten gesperrt.",
    ],
    "French": [
        "La facture est payable à la fin du mois.",
        "Redémarrez le routeur et attendez deux minutes.",
        "Le contrat doit être signé avant vendredi.",
        "Où est la bibliothèque la plus proche ? C'est très loin d'ici.",
        "Les élèves ont étudié l'histoire de la Révolution française.",
        "Ça coûte dix-huit euros, s'il vous plaît.",
    ],
    "Spanish": [
        "La factura vence a fin de mes.",
        "¿Cómo puedo restablecer mi contraseña?",
        "El niño comió una manzana en el jardín.",
        "Mañana lloverá en el norte de España.",
    ],
    "Russian": [
        "Счёт нужно оплатить до конца месяца.",
        "Перезагрузите маршрутизатор и подождите две минуты.",
        "Договор должен быть подписан до пятницы.",
        "Москва — столица России, а Санкт-Петербург — её северная столица.",
        "Как мне сбросить пароль?",
        "Ёжик в тумане искал свою лошадку.",
    ],
    "Greek": [
        "Το τιμολόγιο λήγει στο τέλος του μήνα.",
        "Επανεκκινήστε τον δρομολογητή και περιμένετε δύο λεπτά.",
        "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
        "Πώς μπορώ να επαναφέρω τον κωδικό μου;",
    ],
    "Japanese": [
        "請求書の支払期限は月末です。",
        "ルーターを再起動して二分待ってください。",
        "契約書は金曜日までに署名してください。",
        "東京は日本の首都で、人口が非常に多い都市です。",
        "パスワードをリセットするにはどうすればいいですか？",
        "ひらがなとカタカナと漢字を混ぜて書きます。",
    ],
    "Chinese": [
        "发票须在月底前支付。",
        "请重新启动路由器并等待两分钟。",
        "合同必须在星期五之前签署。",
        "北京是中国的首都，有着悠久的历史。",
        "我该如何重置密码？",
        "繁體中文：這是一個測試句子。",
    ],
    "Korean": [
        "청구서는 월말까지 지불해야 합니다.",
        "라우터를 다시 시작하고 2분 동안 기다리십시오.",
        "계약서는 금요일까지 서명해야 합니다.",
        "서울은 대한민국의 수도입니다.",
        "비밀번호를 어떻게 재설정하나요?",
        "한글은 세종대왕이 만들었습니다.",
    ],
    "Arabic": [
        "يجب دفع الفاتورة في نهاية الشهر.",
        "أعد تشغيل الموجه وانتظر دقيقتين.",
        "يجب توقيع العقد قبل يوم الجمعة.",
        "القاهرة هي عاصمة مصر.",
        "كيف يمكنني إعادة تعيين كلمة المرور؟",
    ],
    "Hebrew": [
        "יש לשלם את החשבונית עד סוף החודש.",
        "ירושלים היא עיר עתיקה.",
    ],
    "Hindi": [
        "बिल का भुगतान महीने के अंत तक करना है।",
        "राउटर को फिर से चालू करें और दो मिनट प्रतीक्षा करें।",
        "अनुबंध पर शुक्रवार तक हस्ताक्षर करने होंगे।",
        "नई दिल्ली भारत की राजधानी है।",
        "मैं अपना पासवर्ड कैसे रीसेट करूँ?",
    ],
    "Thai": [
        "กรุณาชำระเงินภายในสิ้นเดือน",
        "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
    ],
    "Vietnamese": [
        "Hóa đơn phải được thanh toán vào cuối tháng.",
        "Hà Nội là thủ đô của Việt Nam.",
    ],
    "Turkish": [
        "Faturanın ay sonuna kadar ödenmesi gerekiyor.",
        "İstanbul'da çok güzel bir gün geçirdik.",
    ],
    "Polish": [
        "Fakturę należy opłacić do końca miesiąca.",
        "Zażółć gęślą jaźń.",
    ],
    "Emoji and symbols": [
        "Great job 👍🎉 see you tomorrow 😀",
        "🚀🔥💯",
        "Temperature: 21.5 °C ± 0.3, pressure ≈ 1013 hPa → stable.",
        "price = $42.99 (€39,50) — 50% off!!!",
    ],
    "Code and markup": [
        "def embed(texts: list[str]) -> list[list[float]]: return [model(t) for t in texts]",
        "SELECT name, COUNT(*) FROM files GROUP BY name HAVING COUNT(*) > 1;",
        "<div class='note'>See <a href=\"/docs\">the docs</a></div>",
        "Error: ENOENT: no such file or directory, open '/tmp/x.txt'",
    ],
}
# Two sentences of different languages in one text, and the odd ones.
EDGE_CASES = [
    "",
    " ",
    "a",
    "\u00a0\t\n",
    "NUL\x00inside",
    "lone \ud800 surrogate",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "e\u0301te\u0301 (combining accents) and été (precomposed)",
    " ".join(["The long report goes on and on about the budget."] * 60),  # past 256 tokens
    "日本語" * 200,  # past 256 tokens without spaces
]


def _corpus() -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    for label, sentences in SENTENCES.items():
        texts += sentences
        labels += [label] * len(sentences)
    languages = list(SENTENCES)
    shortest = {label: min(s, key=len) for label, s in SENTENCES.items()}
    for a, b in itertools.islice(itertools.permutations(languages, 2), 170):
        texts.append(f"{shortest[a]} {shortest[b]}")
        labels.append("Mixed")
    for label, sentences in SENTENCES.items():  # upper case: the tokenizer lower-cases
        for sentence in sentences[:3]:
            texts.append(sentence.upper())
            labels.append(label)
    texts += EDGE_CASES
    labels += ["Edge cases"] * len(EDGE_CASES)
    return texts, labels


@pytest.fixture(scope="module")
def reference() -> BertReference:
    return BertReference(weights_path(), tokenizer_path(), source_folder() / "config.json")


def test_llama_cpp_vectors_of_the_converted_model_match_the_numpy_reference(
    embedder: LlamaEmbedder, reference: BertReference
) -> None:
    texts, labels = _corpus()
    assert len(texts) >= 300
    ours = embedder.embed_array(texts)
    cosines: dict[str, list[float]] = {}
    worst: list[tuple[float, str]] = []
    expected_all = reference.embed_many([_clean(t) for t in texts])
    for text, label, vector, expected in zip(texts, labels, ours, expected_all, strict=True):
        assert embedder.token_ids(text) == reference.token_ids(_clean(text))
        cosine = float(np.dot(expected, vector))
        cosines.setdefault(label, []).append(cosine)
        worst.append((cosine, text))
    every = [c for values in cosines.values() for c in values]
    report = "\n".join(
        f"{label:18} n={len(v):3} min={min(v):.6f} mean={np.mean(v):.6f}"
        for label, v in cosines.items()
    )
    print(f"\n{report}\nall: n={len(every)} min={min(every):.6f} mean={np.mean(every):.6f}")
    worst.sort()
    assert min(every) > 0.999, f"worst: {worst[:3]}\n{report}"
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def _clean(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def test_the_embedder_is_the_pinned_model_with_its_limits(embedder: LlamaEmbedder) -> None:
    assert embedder.model_id == DEFAULT_EMBEDDER_ID
    assert embedder.dimensions == DIMENSIONS
    assert embedder.max_tokens == MAX_TOKENS
    long = " ".join(["word"] * 1000)
    assert embedder.count_tokens(long) == 1002  # [CLS] 1000 words [SEP]: untruncated
    ids = embedder.token_ids(long)
    assert len(ids) == MAX_TOKENS and ids[0] == 101 and ids[-1] == 102  # [SEP] kept


def test_the_gguf_holds_what_llama_cpp_needs(embedder_model: Path) -> None:
    info = read_gguf(embedder_model)
    meta = info.metadata
    assert info.architecture == "bert"
    assert meta["bert.pooling_type"] == 1  # mean
    assert meta["bert.attention.causal"] is False
    assert meta["tokenizer.ggml.model"] == "bert"
    assert meta["tokenizer.ggml.token_type_count"] == 2
    for key in ("context_length", "embedding_length", "feed_forward_length", "block_count"):
        assert meta[f"bert.{key}"] > 0
    assert meta["bert.attention.head_count"] == 12
    assert meta["bert.attention.layer_norm_epsilon"] == pytest.approx(1e-12)
    names = {t.name: t for t in info.tensors}
    assert not any("pooler" in n or "position_ids" in n for n in names)
    f32, f16 = 0, 1
    assert names["position_embd.weight"].ggml_type == f32
    assert names["token_types.weight"].ggml_type == f32
    assert names["token_embd_norm.weight"].ggml_type == f32
    assert names["blk.0.attn_q.weight"].ggml_type == f16
    assert names["blk.5.ffn_down.weight"].ggml_type == f16
    tokenizer_json = meta["tokenizer.huggingface.json"]
    assert hashlib.sha256(tokenizer_json.encode()).hexdigest() == default_embedder.TOKENIZER_SHA256


def test_the_wordpiece_vocabulary_is_rewritten_as_llama_cpp_expects() -> None:
    assert wordpiece_to_llama("[CLS]") == "[CLS]"
    assert wordpiece_to_llama("##ing") == "ing"
    assert wordpiece_to_llama("play") == "\u2581play"


def test_a_conversion_is_atomic_and_refuses_other_bytes(tmp_path: Path) -> None:
    source = tmp_path / "model"
    source.mkdir()
    real = source_folder()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (source / name).symlink_to(real / name)
    (source / "1_Pooling").mkdir()
    (source / "1_Pooling" / "config.json").symlink_to(real / "1_Pooling" / "config.json")
    output = tmp_path / "out" / "m.gguf"
    result = convert_bert(BertSource(source), output, weight_type="q8_0")
    assert result.path == output and output.is_file()
    assert result.n_bytes < default_embedder_path().stat().st_size  # q8_0 is smaller than f16
    assert list(output.parent.iterdir()) == [output]  # no .partial left behind
    assert read_gguf(output).metadata["general.file_type"] == 7  # MOSTLY_Q8_0

    # A damaged checkpoint: nothing is written, not even a partial file.
    (source / "model.safetensors").unlink()
    (source / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    broken = tmp_path / "broken" / "m.gguf"
    with pytest.raises(Exception):  # noqa: B017 - safetensors' own error type
        convert_bert(BertSource(source), broken)
    assert not broken.exists() and list(broken.parent.iterdir()) == []


def test_pinned_files_with_other_bytes_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "pkg"
    fake.mkdir()
    (fake / "model.safetensors").write_bytes(b"not the model")
    (fake / "tokenizer.json").write_text("{}")
    monkeypatch.setattr(default_embedder, "source_folder", lambda: fake)
    with pytest.raises(EmbedderUnavailableError, match="not the pinned file"):
        default_embedder.weights_path()
    with pytest.raises(EmbedderUnavailableError, match="not the pinned file"):
        default_embedder.convert_default_embedder(tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()


def test_a_missing_cached_file_is_converted_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktopchat.core.paths import AppPaths

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "platform-cache"))
    paths = AppPaths.under(tmp_path / "home")
    made = default_embedder_path(paths)
    assert made == default_embedder.cache_file(paths.cache)
    assert made.is_file() and read_gguf(made).metadata["desktopchat.embedder.id"] == (
        DEFAULT_EMBEDDER_ID
    )
    assert default_embedder_path(paths) == made  # found, not converted again


def test_the_about_notices_name_the_model_and_its_apache_licence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktopchat.core import notices

    def model_part(parts: list[notices.Component]) -> notices.Component:
        return next(c for c in parts if c.name.startswith("all-MiniLM-L6-v2"))

    part = model_part(notices.components())
    assert part.licence == "Apache-2.0"
    assert "Apache License" in part.text() and "sentence-transformers" in part.text()
    assert "all-MiniLM-L6-v2 (built-in embedding model)" in notices.notices_text()
    # A bundle holds the GGUF but not the package of the original files: still listed.
    monkeypatch.setattr(
        notices,
        "runtime_distributions",
        lambda: [d for d in metadata.distributions() if d.metadata["Name"] == "desktopchat"],
    )
    assert "Apache License" in model_part(notices.components()).text()
