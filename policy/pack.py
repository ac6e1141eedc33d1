"""The rules as CrossGuard policies, for ``pulumi preview --policy-pack policy``."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

# The engine runs __main__.py from this folder (`rules` is a top-level module there); the tests
# import the `policy` package.
if __package__:
    from . import rules
else:  # pragma: no cover - inside the Pulumi engine
    import rules

# The project (its stack files) is the folder above this pack; its components.stackset reads them.
PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.append(str(PROJECT_DIR))


def _messages(args: ResourceValidationArgs, rule, options: bool) -> Iterable[str]:
    if options:  # the rule also reads the resource's options
        return rule(args.resource_type, args.props, {"ignoreChanges": list(args.opts.ignore_changes or [])})
    return rule(args.resource_type, args.props)


def _resource_policy(name: str, description: str, rule, options: bool = False) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in _messages(args, rule, options):
            report_violation(message, None)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY)


def _stack_policy(name: str, description: str, rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [rules.Resource(r.resource_type, r.name, r.props) for r in args.resources]
        for message in rule(resources, PROJECT_DIR, stack_of(args)):
            report_violation(message, None)

    return StackValidationPolicy(name=name, description=description, validate=validate,
                                 enforcement_level=EnforcementLevel.MANDATORY)


def stack_of(args: StackValidationArgs) -> str:
    """The stack being previewed, from a URN (``urn:pulumi:<stack>::<project>::...``)."""
    return args.resources[0].urn.split("::", 1)[0].rsplit(":", 1)[-1] if args.resources else ""


def policies() -> list[Policy]:
    """Every policy of the pack, mandatory."""
    found: list[Policy] = [_resource_policy(name, description, rule) for name, (description, rule) in rules.RESOURCE_RULES.items()]
    found += [_resource_policy(name, description, rule, options=True)
              for name, (description, rule) in rules.OPTIONS_RULES.items()]
    found += [_stack_policy(name, description, rule) for name, (description, rule) in rules.STACK_RULES.items()]
    return found
