package zonegate.authz

default decision := {"allow": false, "reasons": ["default"], "obligations": {}}

decision := {"allow": true, "reasons": [], "obligations": {}} if input.subject.authenticated
