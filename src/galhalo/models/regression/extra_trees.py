"""Extra-trees regression back-end: scikit-learn's forest, held and predicted as flat
node arrays (the fitted and the loaded model run the same numpy traversal)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ModelError
from .regressor import CHUNK, Regressor

TREES_DEFAULTS: dict[str, Any] = {
    "trees_estimators": 100, "trees_min_leaf": 20, "trees_max_features": 1.0, "threads": 1}


class ExtraTreesRegressor(Regressor):
    """Extremely randomised trees (scikit-learn), held as one flat array of nodes.

    Node ``i`` of a tree starting at ``roots[t]`` sends a row to ``left[i]`` when
    ``x[feature[i]] <= threshold[i]`` (conditions cast to float32 first, as scikit-learn
    does), else to ``right[i]``; a leaf points to itself and holds ``value[i]``. Children
    always have larger indices than their parent, so a descent ends. Rows descend each
    tree together (vectorised over the rows still above a leaf); the prediction is the
    sum of the leaf values over the trees, in tree order, divided by their number.
    """

    kind = "extra_trees"
    FIELDS = ("left", "right", "feature", "threshold", "value", "roots")

    def __init__(self, left, right, feature, threshold, value, roots):
        self.left, self.right, self.feature = left, right, feature
        self.threshold, self.value, self.roots = threshold, value, roots
        self._children = np.stack([left, right], axis=1).astype(np.intp)
        self._leaf = left == np.arange(len(left))

    @classmethod
    def fit(cls, x, z, hyper, seed, progress):
        from sklearn.ensemble import ExtraTreesRegressor as Forest

        forest = Forest(n_estimators=int(hyper["trees_estimators"]),
                        min_samples_leaf=int(hyper["trees_min_leaf"]),
                        max_features=hyper["trees_max_features"], random_state=seed,
                        n_jobs=int(hyper["threads"])).fit(x, z)
        parts: dict[str, list[np.ndarray]] = {name: [] for name in cls.FIELDS[:-1]}
        roots, offset = [], 0
        for estimator in forest.estimators_:
            tree = estimator.tree_
            nodes = np.arange(tree.node_count)
            leaf = tree.children_left < 0
            parts["left"].append(np.where(leaf, nodes, tree.children_left) + offset)
            parts["right"].append(np.where(leaf, nodes, tree.children_right) + offset)
            parts["feature"].append(np.where(leaf, 0, tree.feature))
            parts["threshold"].append(np.where(leaf, 0.0, tree.threshold))
            parts["value"].append(tree.value[:, 0, 0])
            roots.append(offset)
            offset += tree.node_count
        flat = {name: np.concatenate(values) for name, values in parts.items()}
        return cls(flat["left"].astype(np.int32), flat["right"].astype(np.int32),
                   flat["feature"].astype(np.int32), flat["threshold"].astype(np.float64),
                   flat["value"].astype(np.float64), np.asarray(roots, dtype=np.int32))

    def predict(self, x):
        x32 = np.asarray(x, dtype=np.float32).astype(np.float64)
        total = np.zeros(len(x32))
        for start in range(0, len(x32), CHUNK):
            block = x32[start:start + CHUNK]
            rows = np.arange(len(block))
            for root in self.roots:
                node = np.full(len(block), root, dtype=np.intp)
                active = rows
                while len(active):
                    current = node[active]
                    right = block[active, self.feature[current]] > self.threshold[current]
                    current = self._children[current, right.astype(np.intp)]
                    node[active] = current
                    active = active[~self._leaf[current]]
                total[start:start + len(block)] += self.value[node]
        return total / len(self.roots)

    def dump(self, files, key):
        for name in self.FIELDS:
            files.arrays[f"{key}.{name}"] = getattr(self, name)

    @classmethod
    def restore(cls, files, key, hyper, n_condition):
        arrays = [files.arrays[f"{key}.{name}"] for name in cls.FIELDS]
        left, right, feature, roots = arrays[0], arrays[1], arrays[2], arrays[5]
        n_nodes = len(left)
        problem = None
        if any(len(a) != n_nodes for a in arrays[:5]):
            problem = "arrays of different lengths"
        elif not (len(roots) and roots[0] == 0 and np.all(np.diff(roots) > 0)
                  and roots[-1] < n_nodes):
            problem = "bad tree roots"
        elif np.any(feature < 0) or np.any(feature >= n_condition):
            problem = f"a feature index outside [0, {n_condition})"
        else:
            index = np.arange(n_nodes)
            end = np.append(roots[1:], n_nodes)[np.searchsorted(roots, index, "right") - 1]
            internal = left != index
            children_ok = np.where(internal, (left > index) & (right > index)
                                   & (np.maximum(left, right) < end), right == index)
            if not children_ok.all():
                problem = "children outside their tree or not below their parent"
        if problem:
            raise ModelError(f"extra-trees arrays {key} are not a forest: {problem}")
        return cls(*arrays)

