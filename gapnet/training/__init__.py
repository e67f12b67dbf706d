"""Training one model: building and compiling it (`build`), `fit` (resumable, two-stage,
LR range test), `distribute` (tf.distribute), `losses`, `optimizers`, `callbacks`,
`macro_f1` (the streaming Keras metric), `resume` (epoch-end state, NaN stop), `tta` and
`predict` (`load_model` for any gapnet `.keras` file).

Notebook imports: `from gapnet.training import losses, callbacks`.
"""
