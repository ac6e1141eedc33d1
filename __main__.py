"""Config -> platform (own or referenced) -> environment -> stack outputs."""

import pulumi

from components import config as stack_config
from components.environment import Environment, EnvironmentArgs
from components.platform import platform_for

config = stack_config.load(pulumi.get_stack())
platform = platform_for(config)
shared = platform.contract  # the owner's facts: its own config, or its outputs when attached
environment = Environment(config.environment.name, EnvironmentArgs(
    config=config.environment, host=pulumi.Output.concat(config.environment.name, ".", shared.api_domain),
    platform=platform, control_plane_cidr=shared.control_plane_cidr))

for key, value in {**platform.exports, **environment.exports}.items():
    pulumi.export(key, value)
