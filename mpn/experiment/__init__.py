"""The experiment around the editors: fine-tuning the base model, the edit sets (its
mistakes, with rephrases and translations, streams, locality and memory sets),
sequential editing streams and what they measure, and rates with fact-level intervals.

Imports mpn.editing, mpn.model, mpn.data and mpn.core."""
