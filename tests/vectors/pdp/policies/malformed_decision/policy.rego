package zonegate.authz

# allow is a string, not a boolean: Decision.from_result must deny.
decision := {"allow": "yes", "reasons": [], "obligations": {}}
