"""mpn-edit: cross-lingual model editing with Transformer-Patcher and Multilingual Patch Neurons."""

__version__ = "0.1.0"
