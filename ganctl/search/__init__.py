"""Differentiable GAN architecture search (methods §4): AdversarialNAS-MMD and alphaGAN → genotype.json."""
from ganctl.search.config import METHODS, PRESETS, SearchConfig, make_config, parse_budget
from ganctl.search.loop import SearchResult, run_search
from ganctl.search.loop import run_search as run  # the stage: ganctl.search.run(cfg)
from ganctl.search.temperature import mix_weights, temperature

__all__ = ["METHODS", "PRESETS", "SearchConfig", "SearchResult", "make_config", "mix_weights", "parse_budget",
           "run", "run_search", "temperature"]
