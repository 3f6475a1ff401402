"""Genotype-built generators and discriminators, rebuilt from JSON specs."""

from ganctl.models.discriminator import (
    DISCRIMINATOR_SPEC_KEYS,
    CellDiscriminator,
    ResNetDiscriminator,
    build_discriminator,
    discriminator_spec,
)
from ganctl.models.generator import (
    GENERATOR_SPEC_KEYS,
    SUPPORTED_RESOLUTIONS,
    CellGenerator,
    build_generator,
    generator_spec,
)

__all__ = [
    "build_generator",
    "generator_spec",
    "build_discriminator",
    "discriminator_spec",
    "CellGenerator",
    "ResNetDiscriminator",
    "CellDiscriminator",
    "GENERATOR_SPEC_KEYS",
    "DISCRIMINATOR_SPEC_KEYS",
    "SUPPORTED_RESOLUTIONS",
]
