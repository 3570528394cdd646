package zonegate.authz

# METADATA
# entrypoint: true
decision := {"allow": allow, "reasons": [], "obligations": {}}

default allow := false

allow if _is_admin

_is_admin if "admin" in input.subject.roles
