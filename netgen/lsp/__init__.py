"""The language server (`netgen lsp`): `netgen check`'s diagnostics, every layer's size, hover,
navigation, completion and quick fixes in any editor that speaks the Language Server Protocol.

Every answer is computed from the compile `netgen check` runs (netgen.check); like `check`, the
server imports neither torch nor onnx. The data flow: text.py (positions), outline.py (where each
key and value is written), roles.py (what each is), analysis.py (one check of a buffer), then one
module per feature, and server.py, which wires them to pygls.
"""
