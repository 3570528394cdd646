package zonegate.authz

default decision := {"allow": false, "reasons": [], "obligations": {}}

decision := {"allow": true if {
