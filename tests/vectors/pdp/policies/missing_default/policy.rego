package zonegate.authz

default decision := {"allow": false, "reasons": [], "obligations": {}}

allow if input.subject.authenticated == true
