"""Class expansion: grow a trained bundle with new classes (or more examples of old ones) without starting over.

- linear: the backbone is unchanged, so the head is refit, with the parent's C, on the features stored in the
  bundle (by default every old training item's, up to a byte cap: nothing is forgotten) plus the new data.
- zero-shot (texts): new classes become prototypes (the mean normalised embedding of their examples) appended
  to the label embeddings; old labels are untouched.
- partial:K: the bundle stores unaugmented activations at the cut (by default every training item's, up to a
  byte cap). By default (`head_only`) the parent's network is kept and only the grown head is fitted: a
  class-balanced, cross-validated logistic regression on the parent's pooled features of the stored + new
  items. With `head_only=False` (`--tune-stages`) the head grows (old rows copied, new rows imprinted from class
  means), and the trainable stages plus head train on the new items and the stored ones — both unaugmented, so
  augmentation cannot become a cue for "new class" — with class-balanced cross-entropy plus distillation on the
  old classes (Learning without Forgetting, Li & Hoiem 2016: KL at temperature T between the parent's and the
  new model's old-class outputs). Then the head is refit the same way on the tuned network's features
  (`head_refit`), which places the old/new boundary as a retrain would. full/scratch bundles keep no
  exemplars; with `allow_forgetting` they train on the new data only (augmented), distillation being the only
  anchor.
"""

from headstart.services.expand.run import ExpandResult, expand_bundle, plan_changes

__all__ = ["ExpandResult", "expand_bundle", "plan_changes"]
