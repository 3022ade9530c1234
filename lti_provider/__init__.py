"""An LTI tool provider (a standalone port of Open edX's lti_provider)."""
