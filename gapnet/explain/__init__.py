"""Where the protein is: localization maps, cells and per-cell calls, embeddings."""
