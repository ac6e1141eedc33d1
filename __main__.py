"""Config -> platform (own or referenced) -> environment -> stack outputs."""

import pulumi

from components import config as stack_config
from components.environment import Environment, EnvironmentArgs
from components.platform import platform_for

config = stack_config.load(pulumi.get_stack())
platform = platform_for(config)

environment = Environment(config.environment.name, EnvironmentArgs(
    config=config.environment,
    host=config.host,
    gateway=platform.gateway,
    gateway_principal=platform.gateway_principal,
    ingress_ip=platform.ingress_ip,
    dns_zone=platform.dns_zone,
    dns_project=platform.project,
    gateway_namespace=platform.gateway_namespace,
    tls_credential=platform.tls_credential,
    mesh_ready=platform.mesh_ready,
), opts=pulumi.ResourceOptions(providers={"kubernetes": platform.kubernetes, "gcp": platform.gcp}))

for key, value in platform.exports.items():
    pulumi.export(key, value)
pulumi.export("environment", config.environment.name)
pulumi.export("namespace", environment.namespace)
pulumi.export("host", environment.host)
pulumi.export("url", environment.url)
pulumi.export("audiences", environment.audiences)
pulumi.export("tlsMode", environment.tls_mode)
if config.environment.tls.mutual:
    pulumi.export("clientCaCertificate", environment.client_ca_pem)
    if environment.client_certificate_pem is not None:
        # Secrets: `pulumi stack output clientCertificate --show-secrets > client.pem`.
        pulumi.export("clientCertificate", environment.client_certificate_pem)
        pulumi.export("clientPrivateKey", environment.client_private_key_pem)
