"""The synthetic HPA-like atlas (docs/synthetic.md): morphology, painting, patterns,
rendering, dataset generation and the example figure."""
