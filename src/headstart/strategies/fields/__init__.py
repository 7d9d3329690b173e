"""Field extraction from documents (the `fields` task): extractors that learn which OCR line (or span of a line)
holds each field, and the strategies that fit them (`extractor.py` is the contract between the two).

Extractors (by kind in `kinds.py`, which loads any saved one): `rules.RulesExtractor` (kind "rules",
hand-written), `tagged.TfidfExtractor` ("tfidf", no transfer) and `tagged.LinearExtractor` ("linear", a frozen
text encoder's line embeddings from `embedding.line_embedder`). Under the taggers: `layout` (geometry,
neighbours), `flags` and `lexicon` (typed flags, keywords), `line_text` (TF-IDF or embeddings), `line_features`
(one row per line), `weak_labels` (values -> line classes), `tagger` (the line classifier, cross-fitted),
`candidates` (typed spans), `typed_decode` and `text_decode` (one value per field), `trim` and `corrections`
(what values leave out of / correct in their lines), `saved` (scikit-learn pieces as arrays + JSON).
"""
