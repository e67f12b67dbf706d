"""Single-cell classification (the HPA 2021 task): the challenge's metric and submission
format as pure functions; cell crops, the cell model and the one command build on them."""
