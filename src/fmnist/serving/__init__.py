"""The prediction service: the HTTP app (`app`), request checks, the batcher, metrics, docs."""
