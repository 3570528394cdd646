package zonegate.authz

# METADATA
# entrypoint: true
decision := {"allow": true, "reasons": [], "obligations": {}} if input.ok
