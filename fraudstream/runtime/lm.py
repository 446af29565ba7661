"""The language model of a model folder, in this process or in a child process, behind one protocol.

`ModelScoring` (`runtime/loader.py`) holds one `LanguageModel` and never asks where it runs:

- `LocalLM` wraps the folder loaded here (`fraudstream.model.folder.LoadedModel`): torch, the
  weights and the cache of text vectors live in this process.
- `RemoteLM` wraps a `ModelProcess` (`runtime/model_process.py`): the child loads the folder,
  checks it against its manifest and reports at start-up what this side needs (`ModelInfo`:
  version, thresholds, feature spec, tokenizer, card, config, the numeric medians). This side
  never imports torch nor reads the weights; it tokenises (the tokenizer is small and the
  scheduler batches by token count) and sends rows and token ids to the child.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from fraudstream.config import ConfigError
from fraudstream.features import FeatureRow, FeatureSpec
from fraudstream.model.presets import ModelConfig
from fraudstream.model.reasons import Reason
from fraudstream.model.thresholds import Bands, Thresholds
from fraudstream.runtime.model_process import ModelProcess, ModelProcessError, RemoteBatch

if TYPE_CHECKING:
    from fraudstream.model.folder import LoadedModel

__all__ = ["LanguageModel", "LocalLM", "ModelInfo", "RemoteLM", "load_language_model"]


@dataclasses.dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the rest of the processor knows of a folder's language model, without its weights.
    Built from the loaded model wherever it runs; a child process sends it when it is ready."""

    version: str
    config: ModelConfig
    thresholds: Thresholds
    spec: FeatureSpec
    card: dict[str, Any]
    tokenizer: str | None
    """The folder's tokenizer (`tokenizers.Tokenizer.to_str()`); None without a text tower."""
    raw_medians: tuple[float, ...]
    """Training medians of the numeric features, in `spec.numeric_names` order."""

    @classmethod
    def of(cls, model: LoadedModel) -> ModelInfo:
        return cls(
            version=model.version,
            config=model.config,
            thresholds=model.thresholds,
            spec=model.spec,
            card=model.card,
            tokenizer=None if model.tokenizer is None else model.tokenizer.to_str(),
            raw_medians=tuple(float(x) for x in model.preprocessor.raw_medians),
        )

    @property
    def threshold(self) -> float:
        """Alert when the calibrated probability is at least this."""
        return self.thresholds.alert

    @property
    def bands(self) -> Bands:
        return self.thresholds.bands

    @property
    def has_text(self) -> bool:
        """The model reads narratives (it has a text tower)."""
        return self.config.text is not None

    @property
    def text_head(self) -> bool:
        """The model gives each narrative's own risk (the cascade's memory and rules 1-2)."""
        return self.has_text and self.config.text_head

    @property
    def usual(self) -> dict[str, float]:
        """Numeric feature -> its training median, for "(usual: ...)" in reasons."""
        return dict(zip(self.spec.numeric_names, self.raw_medians, strict=True))

    def model_texts(self, narratives: Sequence[str]) -> list[str]:
        """The narratives as this model reads them (`ModelConfig.model_texts`)."""
        return self.config.model_texts(narratives)


class LanguageModel(Protocol):
    """The operations `ModelScoring` needs from the language model, wherever it runs."""

    @property
    def info(self) -> ModelInfo: ...

    @property
    def process(self) -> ModelProcess | None:
        """The child process that runs the model; None when it runs in this process."""

    @property
    def restarts(self) -> int:
        """How often the model's child process was started again after it died."""

    def tokenize(self, narratives: Sequence[str]) -> list[list[int]]:
        """Truncated, unpadded token ids per narrative (empty lists without a text tower)."""

    def prepare(self, rows: Sequence[FeatureRow], token_ids: Sequence[list[int]] | None) -> Any:
        """One batch ready for `predict` (None token ids: the model reads no narrative)."""

    def predict(self, prepared: Any) -> np.ndarray:
        """Calibrated probabilities, one per row."""

    def explain(self, prepared: Any, indices: Sequence[int]) -> list[list[Reason]]:
        """Top reasons for the given rows."""

    def predict_explain(
        self, prepared: Any, threshold: float
    ) -> tuple[np.ndarray, dict[int, list[Reason]], np.ndarray | None]:
        """Probabilities, the reasons of the rows at or above `threshold`, and the text head's
        logit per row (None without one)."""

    def cache_stats(self) -> dict[str, float] | None:
        """Counters of the cache of text vectors; None: no cache."""

    def close(self) -> None: ...


class LocalLM:
    """The language model loaded in this process."""

    process: ModelProcess | None = None
    restarts = 0

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.info = ModelInfo.of(model)

    def tokenize(self, narratives: Sequence[str]) -> list[list[int]]:
        return self.model.tokenize(narratives)

    def prepare(self, rows: Sequence[FeatureRow], token_ids: Sequence[list[int]] | None) -> Any:
        return self.model.prepare(rows, token_ids)

    def predict(self, prepared: Any) -> np.ndarray:
        return self.model.predict(prepared)

    def explain(self, prepared: Any, indices: Sequence[int]) -> list[list[Reason]]:
        return self.model.explain(prepared, indices)

    def predict_explain(
        self, prepared: Any, threshold: float
    ) -> tuple[np.ndarray, dict[int, list[Reason]], np.ndarray | None]:
        return self.model.predict_explain(prepared, threshold)

    def cache_stats(self) -> dict[str, float] | None:
        cache = self.model.narrative_cache
        return None if cache is None else cache.stats()

    def close(self) -> None:
        pass


class RemoteLM:
    """The language model in a child process; this side holds its description and tokenizer."""

    def __init__(self, process: ModelProcess) -> None:
        self.process = process
        self.info = process.info
        self._tokenizer: Any = None
        if self.info.tokenizer is not None:
            from tokenizers import Tokenizer

            # as `LoadedModel.tokenize`: the folder's tokenizer without its padding
            self._tokenizer = Tokenizer.from_str(self.info.tokenizer)
            self._tokenizer.no_padding()

    @property
    def restarts(self) -> int:
        return self.process.restarts

    def tokenize(self, narratives: Sequence[str]) -> list[list[int]]:
        if self._tokenizer is None:
            return [[] for _ in narratives]
        texts = self.info.model_texts(narratives)
        return [e.ids for e in self._tokenizer.encode_batch_fast(texts)]

    def prepare(
        self, rows: Sequence[FeatureRow], token_ids: Sequence[list[int]] | None
    ) -> RemoteBatch:
        # the tensors are built in the child
        return RemoteBatch(list(rows), None if token_ids is None else list(token_ids))

    def predict(self, prepared: RemoteBatch) -> np.ndarray:
        return self.process.predict(prepared)

    def explain(self, prepared: RemoteBatch, indices: Sequence[int]) -> list[list[Reason]]:
        reasons: list[list[Reason]] = self.process.explain(prepared, indices)
        return reasons

    def predict_explain(
        self, prepared: RemoteBatch, threshold: float
    ) -> tuple[np.ndarray, dict[int, list[Reason]], np.ndarray | None]:
        return self.process.predict_explain(prepared, threshold)

    def cache_stats(self) -> dict[str, float] | None:
        return self.process.cache_stats()

    def close(self) -> None:
        self.process.close()


def load_language_model(
    path: str | Path,
    *,
    in_process: bool,
    device: str,
    threads: int | None,
    narrative_cache: int,
    server: tuple[str, bytes] | None = None,
) -> LanguageModel:
    """The language model of the folder at `path`, loaded here (`in_process`), in a child
    process, or served by the model server at `server` (address, key: `run --workers`,
    `runtime/model_server.py`); a folder that cannot be trusted or loaded is a `ConfigError`
    naming the file."""
    if server is not None:
        from fraudstream.runtime.model_server import ModelServerClient

        try:
            return RemoteLM(ModelServerClient(server[0], server[1], path=Path(path)))
        except ModelProcessError as exc:
            raise ConfigError(f"model_server: {exc}") from None
    if in_process:
        from fraudstream.model.folder import ModelFolderError, load_model

        try:
            model = load_model(
                path, device=device, threads=threads, narrative_cache=narrative_cache
            )
        except ModelFolderError as exc:
            raise ConfigError(f"model_path: {exc}") from None
        return LocalLM(model)
    try:
        process = ModelProcess(
            Path(path), device=device, threads=threads, narrative_cache=narrative_cache
        )
    except ModelProcessError as exc:
        if exc.folder_error is not None:
            # the folder itself was refused (integrity, format): the same message as in process
            raise ConfigError(f"model_path: {exc.folder_error}") from None
        raise ConfigError(
            f"model_path: {exc}; fix: check the folder, or set FRAUDSTREAM_MODEL_PROCESS=false "
            "to run the model in a thread of the processor"
        ) from None
    return RemoteLM(process)
