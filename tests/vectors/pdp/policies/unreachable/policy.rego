package zonegate.authz

default decision := {"allow": false, "reasons": [], "obligations": {}}

decision := {"allow": true, "reasons": [], "obligations": {}} if _admin

_admin if "admin" in input.subject.roles

_forgotten if input.subject.id == "root"
