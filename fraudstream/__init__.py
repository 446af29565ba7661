"""fraudstream: real-time transaction fraud scoring on Kafka with a small fine-tuned language model."""

__version__ = "0.1.0"
