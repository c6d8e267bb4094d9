"""The bundled training loop and the token-shard reader it shares with the pipeline's `pack` stage.

Imports only torch, numpy and the standard library: GPU machines have PyTorch but cannot install the pipeline.
"""
