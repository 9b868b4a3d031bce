"""The pair model of every interaction task: one encoder per entity kind and a pair head.

A task joins two roles (drug and target; drug 1 and drug 2). ``PairModel`` holds one
:class:`~theraflow.nn.entity.EntityEncoder` per entity *kind* — a drug–drug model has one molecule
encoder that both drugs share — under the kind's module name (``drug``, ``target``). A batch carries
each kind's *unique* entities once (``batch["entities"][kind]``) and, per pair, the rows of its two
roles in those lists (``batch["a"]``, ``batch["b"]``): a drug's graph or a protein's sequence is never
encoded once per pair.

:class:`PairHead` is an MLP over ``[p_a, p_b, p_a ⊙ p_b]`` of projected embeddings (one projection per
entity kind: ``pd`` for molecules, ``pt`` for proteins). Its first layer is linear in the
concatenation, so the per-entity terms ``W_a·p_a`` and ``W_b·p_b`` are computed once per unique entity
and only the product term per pair. The roles have weights of their own, so (a, b) and (b, a) are
different inputs — the order of a drug–drug pair says which drug acts on which; a task whose pairs
have no order (``ordered=False``) averages both orders. The output is ``n_out`` values per pair (1 for
a regression value or a binary logit, one logit per class otherwise), as ``raw · out_scale + out_shift``
(buffers: training sets them to the training labels' sd and mean for regression, so the network learns
standardized labels on any scale).

For regression the model also keeps a fallback — what the training labels alone say of a pair: their
mean plus each role's entity offset — and a shrinkage weight a calibration on the validation part may
set (``prediction = fallback + shrink · (score - fallback)``; 1 leaves scores unchanged).
"""

from __future__ import annotations

import torch
from torch import nn

from theraflow.nn.entity import EntityEncoder


class PairHead(nn.Module):
    """See the module docstring. ``proj=None`` keeps the encoders' own widths (with the product, both
    kinds must then be equally wide); ``product=False`` reads [a, b] only (GraphDTA's head)."""

    def __init__(self, widths: dict[str, int], roles: tuple[str, str], n_out: int = 1, *,
                 hidden: tuple[int, ...] = (512, 256), dropout: float = 0.2, proj: int | None = 128,
                 product: bool = True, batch_norm: bool = False, ordered: bool = True) -> None:
        """``widths``: {projection name (``pd``, ``pt``): the encoder's output width}; ``roles``: the
        projection names of role a and role b (the same name twice for two entities of one kind)."""
        super().__init__()
        self.roles = roles
        dims = {}
        for key, width in widths.items():
            self.add_module(key, nn.Identity() if proj is None else nn.Linear(width, proj))
            dims[key] = width if proj is None else proj
        da, db = dims[roles[0]], dims[roles[1]]
        if product and da != db:
            raise ValueError(f"head: proj is null and product is on, but the two embeddings differ in width "
                             f"({da} and {db})")
        self.dims = (da, db)
        self.product = product
        self.ordered = ordered
        self.n_out = n_out
        sizes = [da + db + (da if product else 0), *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), *([nn.BatchNorm1d(b)] if batch_norm else []), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(sizes[-1], n_out))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("out_scale", torch.ones(()))
        self.register_buffer("out_shift", torch.zeros(()))

    def set_output(self, scale: float, shift: float) -> None:
        self.out_scale.fill_(float(scale))
        self.out_shift.fill_(float(shift))

    def project(self, key: str, emb: torch.Tensor) -> torch.Tensor:
        """Per-entity projection (``key``: ``pd``, ``pt``): once per unique entity."""
        return getattr(self, key)(emb)

    def _weights(self):
        first = self.mlp[0]
        a, b = self.dims
        w = first.weight
        return w[:, :a], w[:, a : a + b], (w[:, a + b :] if self.product else None), first.bias

    def _out(self, h: torch.Tensor) -> torch.Tensor:
        out = self.mlp[1:](h)
        if self.n_out == 1:
            out = out.squeeze(-1)
        return out * self.out_scale + self.out_shift

    def _hidden(self, pa, pb, ia, ib) -> torch.Tensor:
        wa, wb, wx, bias = self._weights()
        h = (pa @ wa.T)[ia] + (pb @ wb.T + bias)[ib]
        if wx is not None:
            h = h + (pa[ia] * pb[ib]) @ wx.T
        return h

    def pairs(self, pa: torch.Tensor, pb: torch.Tensor, ia: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
        """Outputs of pairs (ia[i], ib[i]) from the projected unique entities of role a (``pa``) and b."""
        out = self._out(self._hidden(pa, pb, ia, ib))
        if not self.ordered:  # no order: both orders, averaged
            out = (out + self._out(self._hidden(pb, pa, ib, ia))) / 2
        return out

    def all_pairs(self, pa: torch.Tensor, pb: torch.Tensor) -> torch.Tensor:
        """[n_a, n_b(, n_out)] outputs of every a with every b (broadcast, no gathers)."""
        def grid(x, y):
            wa, wb, wx, bias = self._weights()
            h = (x @ wa.T)[:, None, :] + (y @ wb.T + bias)[None, :, :]
            if wx is not None:
                h = h + (x[:, None, :] * y[None, :, :]) @ wx.T
            return self._out(h)

        out = grid(pa, pb)
        if not self.ordered:
            out = (out + grid(pb, pa).transpose(0, 1)) / 2
        return out


class PairModel(nn.Module):
    """One encoder per entity kind + :class:`PairHead` (+ the regression fallback); see the module docstring.

    ``task`` is a :class:`~theraflow.pairs.task.PairTask`; ``dims`` holds per entity kind its
    encoder's dimensions (``node_dim``, ``edge_dim`` for molecules; ``vocab``: entities trained on)."""

    def __init__(self, task, cfg: dict, dims: dict, *, n_out: int = 1, head_defaults: dict | None = None) -> None:
        super().__init__()
        self.task_name = task.name
        self.kinds = task.kinds()  # EntityKind objects, each once, in role order
        for kind in self.kinds:
            key = kind.config_key
            if key not in cfg:
                raise ValueError(f"model {cfg.get('name', '?')!r}: no {key} (task {task.name} joins "
                                 f"{' and '.join(r.entity for r in task.roles)})")
            self.add_module(kind.module, EntityEncoder(kind.name, cfg[key], dims.get(kind.name, {})))
        self.role_kinds = tuple(task.entity(r) for r in task.roles)
        widths = {k.head_key: getattr(self, k.module).out_dim for k in self.kinds}
        head_cfg = {**(head_defaults or {}), **(cfg.get("head") or {})}
        self.head = PairHead(widths, tuple(k.head_key for k in self.role_kinds), n_out, ordered=task.ordered,
                             **head_cfg)
        self.role_names = tuple(r.name for r in task.roles)
        self.register_buffer("shrink", torch.ones(()))
        self.register_buffer("fallback_mean", torch.zeros(()))
        for role, kind in zip(self.role_names, self.role_kinds):  # last row: an entity never trained on (0)
            self.register_buffer(f"fallback_{role}", torch.zeros(int(dims.get(kind.name, {}).get("vocab", 0)) + 1))

    # ------------------------------------------------------------------ encoders
    def encoder(self, kind: str) -> EntityEncoder:
        return getattr(self, next(k.module for k in self.kinds if k.name == kind))

    def needs(self) -> dict[str, dict]:
        """{entity kind: the batch inputs its encoder reads}: batches and scorers build only those."""
        return {k.name: getattr(self, k.module).needs for k in self.kinds}

    def embed(self, kind: str, inputs: dict) -> torch.Tensor:
        """Projected embeddings of entities of one kind (each once)."""
        k = next(x for x in self.kinds if x.name == kind)
        return self.head.project(k.head_key, getattr(self, k.module)(inputs))

    # ------------------------------------------------------------------ fallback (regression)
    def fallback(self, index_a: torch.Tensor, index_b: torch.Tensor) -> torch.Tensor:
        """The training labels' mean + role a's entity offset + role b's (vocabulary rows; -1 = unknown)."""
        def row(index: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
            unknown = (index < 0) | (index >= len(table) - 1)
            return table[torch.where(unknown, torch.full_like(index, len(table) - 1), index)]

        a, b = (getattr(self, f"fallback_{r}") for r in self.role_names)
        return self.fallback_mean + row(index_a, a) + row(index_b, b)

    def shrunk(self, scores: torch.Tensor, index_a: torch.Tensor, index_b: torch.Tensor) -> torch.Tensor:
        if float(self.shrink) == 1.0:
            return scores
        base = self.fallback(index_a, index_b)
        return base + self.shrink * (scores - base)

    # ------------------------------------------------------------------ forward
    def forward(self, batch: dict) -> torch.Tensor:
        """Outputs of a batch (:meth:`theraflow.pairs.data.PairData.batch`)."""
        ents = batch["entities"]
        emb = {k.name: self.embed(k.name, ents[k.name]) for k in self.kinds}
        ka, kb = (k.name for k in self.role_kinds)
        out = self.head.pairs(emb[ka], emb[kb], batch["a"], batch["b"])
        if float(self.shrink) == 1.0:
            return out
        return self.shrunk(out, ents[ka]["index"][batch["a"]], ents[kb]["index"][batch["b"]])

    def grid(self, pa: torch.Tensor, pb: torch.Tensor, index_a: torch.Tensor, index_b: torch.Tensor) -> torch.Tensor:
        """[n_a, n_b(, n_out)] outputs of projected role-a entities with projected role-b ones (screening)."""
        out = self.head.all_pairs(pa, pb)
        if float(self.shrink) == 1.0:
            return out
        return self.shrunk(out, index_a[:, None].expand(out.shape[:2]), index_b[None, :].expand(out.shape[:2]))
