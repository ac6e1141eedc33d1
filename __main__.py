"""Config -> platform (own or referenced) -> environment -> stack outputs."""

import pulumi

from components import config as stack_config
from components.environment import Environment, EnvironmentArgs
from components.platform import platform_for

config = stack_config.load(pulumi.get_stack())
platform = platform_for(config)
environment = Environment(config.environment.name,
                          EnvironmentArgs(config=config.environment, host=config.host, platform=platform,
                                          control_plane_cidr=config.platform.cluster.master_cidr))

for key, value in {**platform.exports, **environment.exports}.items():
    pulumi.export(key, value)
