"""Field extraction from documents (the `fields` task): extractors that learn which OCR line (or span of a line)
holds each field, and the strategies that fit them (`extractor.py` is the contract between the two)."""
