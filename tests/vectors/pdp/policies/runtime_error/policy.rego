package zonegate.authz

default decision := {"allow": false, "reasons": ["default"], "obligations": {}}

# to_number on a non-numeric string is an error (strict builtin errors), never a silent allow.
decision := {"allow": to_number(input.n) > 0, "reasons": [], "obligations": {}} if input.n
