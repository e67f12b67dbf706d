"""Per-class localization maps at the input resolution: exact CAM, Grad-CAM, gradient x
input, integrated gradients.

Every gapnet network ends in global average pooling of one or more feature maps (its
"taps") followed by a head. Which map a network gets:

- **CAM** (Zhou et al. 2016) when the head is GAP -> (dropout) -> the sigmoid Dense layer,
  as in the transfer models (ResNet, DenseNet, Xception backbones): the map of class k is
  sum_c F_c(x, y) W_ck, whose spatial mean plus the bias is exactly the class logit.
- **Grad-CAM** (Selvaraju et al. 2017) on every tap otherwise (GapNet and GapNet-PL tap
  three levels, block 1, 2 and 3, each pooled; DeepYeast one; M-CNN its flattened last
  map): per tap,
  relu(sum_c alpha_c F_c) with alpha_c the spatial mean of d logit_k / d F_c, then each
  level's map is upsampled to the input and the levels are summed. For a linear head this
  sum's mean is each level's first-order share of the logit, so the levels are combined
  in proportion to what they contribute, with no weighting to choose; block 1 brings the
  fine detail (full or half resolution), block 3 the context (1/8).

Two kinds work for any network, at the input's own resolution (no upsampling), on the
protein channel:

- `method="input_gradient"`: gradient x input, positive part. Under `normalization:
  per_image` (the default job) the logit does not change when the protein channel is
  scaled, so the signed map sums to exactly 0 over the pixels (tested): it says which
  pixels raise the logit and which lower it, not a share of the logit. The map is the
  positive half of a zero-sum attribution.
- `method="integrated_gradients"` (Sundararajan et al. 2017): the path integral of the
  gradient from a baseline whose protein channel is blurred (Gaussian, sigma = side / 32;
  the other channels kept) to the image, `steps` midpoints, times (x - baseline). Its
  sum is logit(x) - logit(baseline) (completeness, tested), a share of the logit that
  means something under per-image normalization too; a dark (zero) baseline would not:
  per-image standardization makes every point of that path but its start look alike.

Gradients are taken on the logits (the pre-sigmoid outputs), not on the saturated
probabilities. Taps are found as the inputs of
the outer model's pooling layers, so a backbone nested as one layer (keras#16123,
tensorflow#44462) needs no special case.
Maps can be averaged over test-time views (`tta`): each view's map is turned back before
averaging.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from gapnet.classes import CHANNELS
from gapnet.training.tta import TTA_SETS, view

_POOLS = (
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.Flatten,
)
_PASS = (keras.layers.Dropout,)


def network_of(model: keras.Model):
    """(network, scale): the model holding the `predictions` layer, and what to multiply
    pixel values by before it (1, or 1/255 for a pre-0.3 model wrapped by `load_model`)."""
    names = [layer.name for layer in model.layers]
    if "predictions" in names:
        return model, 1.0
    for layer in model.layers:
        if isinstance(layer, keras.Model) and "predictions" in [x.name for x in layer.layers]:
            return layer, 1 / 255.0
    raise ValueError(
        f"{model.name}: no 'predictions' layer; localization maps need a "
        "gapnet network (a fold model, not the fold average)"
    )


class Explainer:
    """Maps of one network: `maps(x, classes)` -> (B, K, H, W) float32, and `kind`
    ("cam" or "gradcam"); `probabilities(x)` and `features(x)` (the pooled taps,
    concatenated: the penultimate features embeddings use) from the same forward pass."""

    def __init__(self, model: keras.Model, green: int | None = None):
        self.model = model
        # the protein's input channel: 1 of the four (R, G, B, Y); a run on a channel set
        # passes its own (`Config.channel_set.index("green")`)
        self.green = CHANNELS.index("green") if green is None else int(green)
        self.net, self.scale = network_of(model)
        pools = [layer for layer in self.net.layers if isinstance(layer, _POOLS)]
        if not pools:
            raise ValueError(f"{self.net.name}: no global pooling layer to explain")
        self.dense = self.net.get_layer("predictions")
        order = list(self.net.layers)
        head = order[max(order.index(p) for p in pools) + 1 : order.index(self.dense)]
        linear = len(pools) == 1 and all(isinstance(x, _PASS) for x in head)
        self.kind = "cam" if linear else "gradcam"
        self.tap_names = [p.name for p in pools]
        self.flat = [isinstance(p, keras.layers.Flatten) for p in pools]
        pooled = [p.output for p in pools]
        self.probe = keras.Model(
            self.net.inputs, [p.input for p in pools] + pooled, name=f"{self.net.name}_probe"
        )
        # pooled features -> the classifier's input (the FC layers of a multi-level head);
        # a linear head's classifier reads the pooled features (dropout is the identity)
        self.head = (
            None if linear else keras.Model(pooled, self.dense.input, name=f"{self.net.name}_head")
        )

    def _forward(self, x):
        x = tf.convert_to_tensor(np.asarray(x, np.float32) * np.float32(self.scale))
        out = self.probe(x, training=False)
        n = len(self.tap_names)
        return x, [tf.cast(f, tf.float32) for f in out[:n]], out[n:]

    def _logits(self, pooled):
        w, b = self.dense.kernel, self.dense.bias
        if self.head is None:
            hidden = pooled[0]
        else:
            hidden = self.head(pooled if len(pooled) > 1 else pooled[0], training=False)
        return tf.matmul(tf.cast(hidden, tf.float32), tf.cast(w, tf.float32)) + tf.cast(
            b, tf.float32
        )

    def probabilities(self, x) -> np.ndarray:
        _, _, pooled = self._forward(x)
        return np.asarray(tf.sigmoid(self._logits(pooled)), np.float32)

    def features(self, x) -> np.ndarray:
        _, _, pooled = self._forward(x)
        return np.concatenate([np.asarray(p, np.float32) for p in pooled], axis=-1)

    def cell_features(self, image, cells: np.ndarray) -> np.ndarray:
        """(n_cells, C): the last tap's feature map averaged over each cell of the label
        image, at the mask's own resolution (each cell pixel reads the feature pixel it
        falls in, `gapnet.explain.cells.map_pixel_of`), so no cell is lost to the coarse
        grid; zeros for a label the mask skips."""
        from scipy.sparse import coo_matrix

        from gapnet.explain.cells import map_pixel_of

        _, feats, _ = self._forward(np.asarray(image)[None])
        f = np.asarray(feats[-1][0], np.float64)
        h, w, c = f.shape
        n = int(cells.max())
        flat = np.asarray(cells).ravel().astype(np.int64)
        inside = flat > 0
        pix = map_pixel_of(cells.shape, (h, w))
        counts = coo_matrix(
            (np.ones(int(inside.sum())), (flat[inside] - 1, pix[inside])), shape=(n, h * w)
        ).tocsr()
        area = np.asarray(counts.sum(1)).ravel()
        sums = np.asarray(counts @ f.reshape(h * w, c))
        return (sums / np.maximum(area, 1)[:, None]).astype(np.float32)

    def maps(self, x, classes) -> np.ndarray:
        """Maps (B, len(classes), H, W) for a batch x of pixel values 0..255."""
        x, feats, pooled = self._forward(x)
        h, w = int(x.shape[1]), int(x.shape[2])
        classes = tf.constant([int(k) for k in classes], tf.int32)
        if self.kind == "cam":
            wk = tf.gather(tf.cast(self.dense.kernel, tf.float32), classes, axis=1)
            return self._resize(tf.einsum("bhwc,ck->bkhw", feats[0], wk), h, w)
        # The logit depends on a tap F only through its average g = mean_xy F, so Grad-CAM's
        # alpha_c = mean_xy d logit / d F_c = (d logit / d g_c) / (h w): one Jacobian of
        # the head per tap gives the weights of every class at once.
        pooled = [tf.cast(p, tf.float32) for p in pooled]
        with tf.GradientTape(persistent=True) as tape:
            for p in pooled:
                tape.watch(p)
            logits = tf.gather(self._logits(pooled), classes, axis=1)
            picked = [logits[:, j] for j in range(int(classes.shape[0]))]
        # per class one backward pass through the small head (the samples are independent,
        # so the batch's gradient holds each sample's own): far cheaper than batch_jacobian,
        # which traces a vectorized graph on every call
        per_class = [tape.gradient(v, pooled) for v in picked]
        total = 0.0
        for i, (f, flat) in enumerate(zip(feats, self.flat, strict=True)):
            jac = tf.stack([g[i] for g in per_class], 1)  # (B, K, C), or (B, K, h w C) flat
            if flat:  # the feature map itself is the head's input: average its gradient
                alpha = tf.reduce_mean(
                    tf.reshape(jac, (-1, jac.shape[1]) + tuple(f.shape[1:])), axis=(2, 3)
                )
            else:
                alpha = jac / float(f.shape[1] * f.shape[2])
            level = tf.nn.relu(tf.einsum("bhwc,bkc->bkhw", f, alpha))
            total = total + self._resize(level, h, w)
        del tape
        return np.asarray(total, np.float32)

    def logits(self, x) -> np.ndarray:
        """(B, 28) logits for a batch of pixel values 0..255."""
        _, _, pooled = self._forward(x)
        return np.asarray(self._logits(pooled), np.float32)

    def _green_grads(self, x, classes):
        """(B, K, H, W) d logit_k / d x_green for a float batch x of pixel values."""
        green = self.green
        x = tf.convert_to_tensor(np.asarray(x, np.float32))
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            out = self.probe(x * np.float32(self.scale), training=False)
            logits = self._logits(out[len(self.tap_names) :])
            picked = [logits[:, int(k)] for k in classes]
        grads = [tape.gradient(v, x)[..., green] for v in picked]
        del tape
        return np.asarray(tf.stack(grads, 1), np.float32)

    def input_gradient(self, x, classes, positive: bool = True) -> np.ndarray:
        """Gradient x input on the protein channel: (B, K, H, W) at the input's own
        resolution, its positive part (or signed, `positive=False`). Under per-image
        normalization the signed map sums to 0: not a share of the logit."""
        x = np.asarray(x, np.float32)
        m = self._green_grads(x, classes) * x[:, None, ..., self.green]
        return np.maximum(m, 0) if positive else m

    def integrated_gradients(self, x, classes, steps: int = 32, baseline=None) -> np.ndarray:
        """Integrated gradients on the protein channel, signed: (B, K, H, W) whose sum over
        the pixels is logit_k(x) - logit_k(baseline) up to the `steps`-point midpoint rule.
        baseline: a batch like x, default `blurred_baseline(x)`."""
        x = np.asarray(x, np.float32)
        green = self.green
        base = (
            blurred_baseline(x, green=green)
            if baseline is None
            else np.asarray(baseline, np.float32)
        )
        alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
        out = []
        for xb, bb in zip(x, base, strict=True):
            path = bb[None] + alphas[:, None, None, None] * (xb - bb)[None]
            grads = self._green_grads(path, classes).mean(0)  # (K, H, W)
            out.append(grads * (xb[..., green] - bb[..., green])[None])
        return np.stack(out).astype(np.float32)

    @staticmethod
    def _resize(m, h, w) -> np.ndarray:
        """(B, K, h', w') -> (B, K, h, w), bilinear (pixel centres aligned)."""
        up = tf.image.resize(tf.transpose(m, (0, 2, 3, 1)), (h, w), method="bilinear")
        return np.asarray(tf.transpose(up, (0, 3, 1, 2)), np.float32)


def blurred_baseline(x, sigma: float | None = None, green: int | None = None) -> np.ndarray:
    """x (B, H, W, 4) with its protein channel Gaussian-blurred (sigma = side / 32 unless
    given): the integrated-gradients baseline, same brightness, no protein pattern."""
    from scipy.ndimage import gaussian_filter

    x = np.array(x, np.float32)
    green = CHANNELS.index("green") if green is None else green
    s = max(x.shape[1], x.shape[2]) / 32 if sigma is None else sigma
    for b in range(len(x)):
        x[b, ..., green] = gaussian_filter(x[b, ..., green], s, mode="reflect")
    return x


def unview(m: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """Inverse of `gapnet.training.tta.view` on (B, K, H, W) maps."""
    m = np.rot90(m, -k, axes=(2, 3))  # view turns counter-clockwise k times
    return np.ascontiguousarray(m[..., ::-1] if flip else m)


METHODS = ("auto", "input_gradient", "integrated_gradients")


def class_maps(
    model, x, classes, tta: str = "none", method: str = "auto", steps: int = 32
) -> np.ndarray:
    """Maps (B, K, H, W) of `classes` for pixel batch x, averaged over the TTA views.

    method: "auto", the network's CAM or Grad-CAM (`Explainer.kind`); "input_gradient",
    gradient x input on the protein channel, positive part (`Explainer.input_gradient`);
    "integrated_gradients", from a blurred-protein baseline, signed
    (`Explainer.integrated_gradients`, `steps` path points).
    """
    if method not in METHODS:
        raise ValueError(f"unknown map method {method!r}; choose from {METHODS}")
    ex = model if isinstance(model, Explainer) else Explainer(model)
    fn = {
        "auto": ex.maps,
        "input_gradient": ex.input_gradient,
        "integrated_gradients": lambda xv, ks: ex.integrated_gradients(xv, ks, steps),
    }[method]
    classes = [int(k) for k in classes]
    total = None
    for k, flip in TTA_SETS[tta]:
        xv = np.asarray(view(np.asarray(x, np.float32), k, flip))  # keras.ops -> array
        m = unview(fn(xv, classes), k, flip)
        total = m if total is None else total + m
    return total / len(TTA_SETS[tta])
