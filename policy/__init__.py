"""The platform's policy pack: ``rules`` (shared), ``pack`` (CrossGuard), ``offline`` (plan.json)."""
