"""LSQ (Esser et al., ICLR 2020): every role fake-quantized from the first step with a learned step size
(``dqbench.quant.lsq``); optionally with Degree-Quant's in-degree-aware protective masks (``masking = true``)."""

from __future__ import annotations

from dqbench.errors import DQBenchError
from dqbench.methods.base import Method, fill_roles, signed_for
from dqbench.methods.degree_quant import protection_range, sample_protection, with_protection_probability
from dqbench.quant.lsq import STEP_INITS, LsqQuantize
from dqbench.registry import METHODS


@METHODS.register("lsq")
class LSQ(Method):
    """Learned step size quantization for weights and activations (symmetric; unsigned at edge-kind points).
    ``masking``: protect nodes during training with Degree-Quant's probabilities (``p_min``/``p_max``, default the
    paper's for the bit width); every node is quantized at inference. ``init``: the step's start, "mean" (the
    paper's) or "max" (see ``dqbench.quant.lsq``)."""

    name = "lsq"
    version = "1"

    def __init__(self, bits: int = 8, masking: bool = False, p_min: float | None = None,
                 p_max: float | None = None, init: str = "mean", role_bits: dict | None = None):
        super().__init__(bits, role_bits)
        if init not in STEP_INITS:
            raise DQBenchError(f"lsq init must be one of {', '.join(STEP_INITS)}, got {init!r}")
        self.init = init
        if not isinstance(masking, bool):
            raise DQBenchError(f"lsq masking must be true or false, got {masking!r}")
        self.masking = masking
        self.p_min, self.p_max = protection_range("lsq", self.bits, p_min, p_max)

    def transform(self, data):
        """With masking: a shallow copy of ``data`` with each node's protection probability (``dq_prob``)."""
        return with_protection_probability(data, self.p_min, self.p_max) if self.masking else data

    def prepare(self, model):
        fill_roles(model, lambda p: LsqQuantize(self.bits_for(p), signed=signed_for(p.kind),
                                                may_unsign=p.kind != "param", init=self.init))
        model.protector = sample_protection if self.masking else None
        return model
