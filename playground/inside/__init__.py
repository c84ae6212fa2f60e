"""Why this token? Attribution, contributions, interventions and activation patching inside decoders.

    hooks.py          the decoder's parts, the prompt and target as tokens, thread-local forward hooks
    attribution.py    gradient x input, integrated gradients, occlusion (Captum), attention rollout
    contributions.py  direct logit attribution per layer, head and MLP through the final norm
    interventions.py  heads and MLP blocks switched off, a prompt token removed or replaced
    patching.py       activation patching of the residual stream, attention and MLP outputs

Every result is a frozen dataclass of numpy arrays and lists; `*_api_result` turn them into the JSON the
tab's API endpoints return.
"""

from playground.inside.attribution import IG_STEPS, METHODS, Attribution, attribute
from playground.inside.attribution import to_api as attribute_api_result
from playground.inside.contributions import Component, Contributions, contributions
from playground.inside.contributions import to_api as contributions_api_result
from playground.inside.hooks import TokenCounts, count_tokens
from playground.inside.interventions import Intervention, NextTokens, ablate, edit_prompt
from playground.inside.interventions import to_api as ablate_api_result
from playground.inside.patching import KINDS as PATCH_KINDS
from playground.inside.patching import Patching, patch, patch_one
from playground.inside.patching import to_api as patch_api_result

__all__ = ["IG_STEPS", "METHODS", "PATCH_KINDS", "Attribution", "Component", "Contributions", "Intervention",
           "NextTokens", "Patching", "TokenCounts", "ablate", "ablate_api_result", "attribute", "attribute_api_result",
           "contributions", "contributions_api_result", "count_tokens", "edit_prompt", "patch", "patch_api_result",
           "patch_one"]
